/**
 * COPY's text format, both ways: a field written (`copyField`), a field read back (`copyFieldText`), and the bytes of
 * many rows put together (`CopyText`).
 */

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
/** The escapes `COPY … TO` writes for a control character, and the characters they stand for. */
const COPY_UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** `value` as one field of COPY's text format: a backslash, tab, newline or carriage return escaped (a NUL is refused upstream). */
export function copyField(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : value;
}

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

/** Bytes written one piece after another into a buffer that grows as needed. */
export class CopyText {
  private buf = Buffer.allocUnsafe(1 << 16);
  private at = 0;

  write(text: string): void {
    this.room(text.length * 3);
    this.at += this.buf.write(text, this.at, 'utf8');
  }

  copy(bytes: Buffer, from = 0, to = bytes.length): void {
    this.room(to - from);
    this.at += bytes.copy(this.buf, this.at, from, to);
  }

  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}
