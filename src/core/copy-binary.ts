/**
 * COPY's binary format, as `COPY … FROM STDIN (FORMAT binary)` reads it: a header, then each row as its count of fields
 * and each field as its length in bytes (−1 for NULL) and the type's binary form, then a trailer. Text is its UTF-8 bytes
 * (PostgreSQL checks them as it does text input), a uuid its 16 bytes, jsonb a version byte (1) and then its JSON text.
 * Entities are written so rather than as COPY text: the server then finds no escapes to undo and parses no uuid from
 * text, a sixth less of its CPU for a first load's rows (bench/pull/copy-format-cpu.ts).
 */

/** The signature, no flags, no header extension. */
export const COPY_BINARY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** A row of −1 fields: the end of the data. */
export const COPY_BINARY_TRAILER = Buffer.from([0xff, 0xff]);
/** A NULL field: its length −1, no bytes. */
export const NULL_FIELD = Buffer.from([0xff, 0xff, 0xff, 0xff]);
/** The version byte a jsonb field starts with. */
export const JSONB_VERSION = 1;

/** Rows of binary COPY written one field after another into a buffer that grows as needed. */
export class CopyBinary {
  private buf: Buffer;
  private at = 0;

  /** `bytes`: the room to start with (it grows as needed, each time copying what is written). */
  constructor(bytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  /** A row of `n` fields starts. */
  row(n: number): void {
    this.room(2);
    this.at = this.buf.writeInt16BE(n, this.at);
  }

  /** A text field. */
  text(value: string): void {
    this.room(5 + value.length * 3);
    const length = this.buf.write(value, this.at + 4, 'utf8');
    this.buf.writeInt32BE(length, this.at);
    this.at += 4 + length;
  }

  /** A jsonb field of the JSON text `json`. */
  jsonb(json: string): void {
    this.room(5 + json.length * 3);
    this.buf[this.at + 4] = JSONB_VERSION;
    const length = 1 + this.buf.write(json, this.at + 5, 'utf8');
    this.buf.writeInt32BE(length, this.at);
    this.at += 4 + length;
  }

  null(): void {
    this.room(4);
    this.at = this.buf.writeInt32BE(-1, this.at);
  }

  /** `bytes[from, to)` as they are: whole fields already in this format, or a header or trailer. */
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

/** A field of `bytes` (a uuid's 16, say), its length first. */
export function binaryField(bytes: Buffer): Buffer {
  const field = Buffer.allocUnsafe(4 + bytes.length);
  field.writeInt32BE(bytes.length, 0);
  bytes.copy(field, 4);
  return field;
}

/** A uuid's 16 bytes from its text (`8-4-4-4-12` hex digits; a wrong one is refused). */
export function uuidBytes(uuid: string): Buffer {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) throw new Error(`not a uuid: ${uuid}`);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/** The uuid text of `bytes[at, at + 16)`. */
export function uuidText(bytes: Buffer, at = 0): string {
  const h = bytes.toString('hex', at, at + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
