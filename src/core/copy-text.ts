/** COPY's text format as `COPY … TO` writes it: a field read back (`copyFieldText`). */

/** The escapes `COPY … TO` writes for a control character, and the characters they stand for. */
const COPY_UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** The field `bytes[from, to)` of COPY text as the value it stands for (its escapes undone), null for NULL (`\N`). */
export function copyFieldText(bytes: Buffer, from: number, to: number): string | null {
  if (to - from === 2 && bytes[from] === 0x5c && bytes[from + 1] === 0x4e) return null;
  return unescapeCopy(bytes.toString('utf8', from, to));
}

/** A field's text with COPY's escapes undone. */
export function unescapeCopy(text: string): string {
  return text.includes('\\') ? text.replace(/\\(.)/gs, (_, c: string) => COPY_UNESCAPES[c] ?? c) : text;
}

/** Whether `\<c>` (c a byte) is an escape `COPY … TO` writes. */
export function isCopyEscape(c: number): boolean {
  return c === 0x5c || COPY_UNESCAPES[String.fromCharCode(c)] !== undefined;
}
