import { stringEnd } from './exact-json';
import { FORBIDDEN_KEYS, unstorableCharacter } from './record-problems';

/**
 * A JSON object given as its text by a source that already holds it as checked JSON (PostgreSQL's jsonb output: valid,
 * unique keys, every number in numeric's plain notation), so the core can write it into the batch's document without
 * parsing it into objects and stringifying them again. Anything that wants the value (a schema, a content key, a
 * refused record's DLQ entry) gets it parsed, as `JSON.parse` would have given it (`withJsonParsed`); serialized, it
 * is that value (`toJSON`). Only a `vertical_data` field's value is spliced.
 */
export class JsonText {
  readonly text: string;
  private splicedText: string | null | undefined;

  constructor(text: string) {
    this.text = text;
  }

  /** The value, for a serializer (an API answer, a DLQ row): exactly what a parsed source value would write. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }

  /** The text to splice (see `splicedJsonb`), worked out once. */
  spliced(): string | null {
    if (this.splicedText === undefined) this.splicedText = splicedJsonb(this.text);
    return this.splicedText;
  }
}

const SURROGATE = /[\ud800-\udfff]/;
/** Deeper texts take the parsed way, where `normalizeRecord` measures depth exactly (its limit is 32 levels). */
export const MAX_SPLICED_DEPTH = 16;
/** A decimal of up to 15 significant digits is the same number after a trip through a double. */
export const MAX_EXACT_DIGITS = 15;

/**
 * `text` (jsonb output) as JSON whose jsonb value is the one `JSON.stringify(JSON.parse(text))` gives: each number with
 * the trailing zeros of its fraction cut (`3.50` → `3.5`, `2.0` → `2`), since a double keeps no scale and jsonb does.
 * Null when the parsed way could end differently, and must decide: a key `normalizeRecord` refuses (any string equal
 * to one: values too), nesting near its limit, a number a double would change (more than 15 digits, an exponent), a
 * `\u` escape, a NUL or an unpaired surrogate, anything that is not an object.
 */
export function splicedJsonb(text: string): string | null {
  // Escapes (jsonb writes control characters so) could spell a refused key or character: the parsed way decides.
  if (text.charCodeAt(0) !== 0x7b || text.includes('\\u') || text.includes('\0')) return null;
  // Only text that is not all ASCII can hold a surrogate; a paired one (an emoji) is fine.
  if (Buffer.byteLength(text) !== text.length && SURROGATE.test(text) && unstorableCharacter(text)) return null;
  let out = '';
  let copied = 0;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (end < 0) return null;
      const length = end - i - 1;
      if ((length === 9 || length === 11) && FORBIDDEN_KEYS.has(text.slice(i + 1, end))) return null;
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_SPLICED_DEPTH) return null;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let digits = c === 0x2d ? 0 : 1;
      let point = -1;
      for (; end < text.length; end++) {
        const d = text.charCodeAt(end);
        if (d >= 0x30 && d <= 0x39) digits++;
        else if (d === 0x2e && point < 0) point = end;
        else break;
      }
      const next = text.charCodeAt(end);
      if (next === 0x65 || next === 0x45 || next === 0x2e) return null;
      let cut = end;
      if (point >= 0) {
        while (text.charCodeAt(cut - 1) === 0x30) cut--;
        digits -= end - cut;
        if (cut - 1 === point) cut--;
      }
      if (digits > MAX_EXACT_DIGITS) return null;
      if (cut < end) {
        out += text.slice(copied, cut);
        copied = end;
      }
      i = end - 1;
    }
  }
  if (depth !== 0) return null;
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * `data`'s JSON with the JsonText values of its fields `fields` spliced in as text; null when one cannot be (see
 * `splicedJsonb`) or lies elsewhere (a null field): the caller then parses them. Key order differs from the parsed
 * way's; jsonb orders keys itself.
 */
export function splicedDocument(data: Record<string, unknown>, fields: ReadonlyArray<string | null>): string | null {
  let tail = '';
  const texts: JsonText[] = [];
  for (const field of fields) {
    const value = field === null ? null : data[field];
    const text = value instanceof JsonText ? value.spliced() : null;
    if (text === null) return null;
    tail += ',' + JSON.stringify(field) + ':' + text;
    texts.push(value as JsonText);
  }
  // The texts are set aside while the rest is stringified: a value with a `toJSON` would take JSON.stringify off its fast
  // path for the whole record (twice the time).
  for (const field of fields) data[field!] = undefined;
  let rest: string;
  try {
    rest = JSON.stringify(data);
  } finally {
    for (let i = 0; i < fields.length; i++) data[fields[i]!] = texts[i];
  }
  return rest.length === 2 ? '{' + tail.slice(1) + '}' : rest.slice(0, -1) + tail + '}';
}

/** Deeper than any record `normalizeRecord` keeps (32 levels): a record nested deeper is refused, its texts serialized by `toJSON`. */
const MAX_PARSED_DEPTH = 40;

/**
 * `value` with every JsonText in its first `MAX_PARSED_DEPTH` levels parsed (copies of the objects and arrays on the way to
 * one; `value` itself if none). Bounded, so a hostile record nested a million levels deep costs no stack.
 */
export function withJsonParsed(value: unknown, depth = MAX_PARSED_DEPTH): unknown {
  if (value instanceof JsonText) return JSON.parse(value.text);
  if (typeof value !== 'object' || value === null || JSON.isRawJSON(value) || depth === 0) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const parsed = withJsonParsed(value[i], depth - 1);
      if (parsed !== value[i]) (copy ??= [...value])[i] = parsed;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | null = null;
  const source = value as Record<string, unknown>;
  for (const key in source) {
    const parsed = withJsonParsed(source[key], depth - 1);
    if (parsed === source[key]) continue;
    copy ??= Object.defineProperties({}, Object.getOwnPropertyDescriptors(source));
    Object.defineProperty(copy, key, { value: parsed, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}
