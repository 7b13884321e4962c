import { randomBytes } from 'node:crypto';
import { exactNumber, JSON_NUMBER, type RawJson } from './exact-number';

/**
 * Only a number token of 16 or more digits, or with an exponent, can differ from its double (any decimal of
 * up to 15 significant digits in the normal range survives the round trip), so text without one is parsed
 * at once. Digits inside strings can match too; they only cost a closer look.
 */
const MAYBE_INEXACT = /(?:^|[:,[])\s*-?\d(?:[\d.]{15}|[\d.]*[eE])/;

/** The end (closing quote) of the JSON string opening at `start`, or -1 when it never closes. */
export function stringEnd(text: string, start: number): number {
  for (let i = start; ;) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
}

/** The number tokens outside strings that a double would change: where each starts and ends, and its exact value. */
interface Inexact {
  starts: number[];
  ends: number[];
  values: RawJson[];
}

function inexactTokens(text: string): Inexact {
  const found: Inexact = { starts: [], ends: [], values: [] };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i);
      if (i < 0) break; // JSON.parse reports it
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let digits = c === 0x2d ? 0 : 1;
      let exponent = false;
      for (; end < text.length; end++) {
        const d = text.charCodeAt(end);
        if (d >= 0x30 && d <= 0x39) digits++;
        else if (d === 0x65 || d === 0x45) exponent = true;
        else if (d !== 0x2e && d !== 0x2b && d !== 0x2d) break;
      }
      if (digits >= 16 || exponent) {
        const token = text.slice(i, end);
        // A token JSON does not allow is left for JSON.parse to refuse.
        const value = JSON_NUMBER.test(token) ? exactNumber(token) : 0;
        if (typeof value !== 'number') {
          found.starts.push(i);
          found.ends.push(end);
          found.values.push(value);
        }
      }
      i = end - 1;
    }
  }
  return found;
}

/** Puts each exact value back where its marker string landed; iterative, so any depth is fine. */
function restore(root: unknown, tag: string, values: RawJson[]): unknown {
  const exact = (v: unknown) => (typeof v === 'string' && v.startsWith(tag) ? values[Number(v.slice(tag.length))] : undefined);
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'object' && v !== null) stack.push(v);
        else node[i] = exact(v) ?? v;
      }
    } else if (typeof node === 'object' && node !== null) {
      const obj = node as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        const v = obj[key];
        if (typeof v === 'object' && v !== null) stack.push(v);
        else if (exact(v)) Object.defineProperty(obj, key, { value: exact(v), writable: true, enumerable: true, configurable: true });
      }
    }
  }
  return exact(root) ?? root;
}

/**
 * `JSON.parse`, keeping every number exactly (see exact-number.ts); throws the SyntaxError `JSON.parse`
 * throws for the text as given. The tokens a double would change are swapped for marker strings (tagged
 * with a random prefix no sender can guess), the text is parsed natively, and the markers are replaced by
 * the exact values: linear in the text, and no recursion however deep it nests.
 */
export function parseExactJson(text: string): unknown {
  const found = MAYBE_INEXACT.test(text) ? inexactTokens(text) : null;
  if (!found || found.values.length === 0) return JSON.parse(text);
  const nonce = randomBytes(12).toString('base64');
  let marked = '';
  let copied = 0;
  for (let i = 0; i < found.values.length; i++) {
    marked += text.slice(copied, found.starts[i]) + '"\\u0000' + nonce + ':' + i + '"';
    copied = found.ends[i]!;
  }
  marked += text.slice(copied);
  let parsed: unknown;
  try {
    parsed = JSON.parse(marked);
  } catch (err) {
    JSON.parse(text); // the error as the sender wrote the text
    throw err;
  }
  return restore(parsed, '\0' + nonce + ':', found.values);
}
