import { COPY_BINARY_HEADER } from '../../src/core/copy-binary';

/** Fields in COPY's binary format (each its length, −1 for NULL, then its bytes), read from `bytes[from, to)`. */
export function binaryFields(bytes: Buffer, from = 0, to = bytes.length): Array<Buffer | null> {
  const fields: Array<Buffer | null> = [];
  for (let at = from; at < to;) {
    const length = bytes.readInt32BE(at);
    at += 4;
    if (length < 0) fields.push(null);
    else {
      if (at + length > to) throw new Error(`a field of ${length} bytes at ${at} runs past the end (${to})`);
      fields.push(bytes.subarray(at, at + length));
      at += length;
    }
  }
  return fields;
}

/** The rows of a whole binary COPY input (header, rows, trailer), each row its fields; anything malformed throws. */
export function binaryRows(input: Buffer): Array<Array<Buffer | null>> {
  if (!input.subarray(0, COPY_BINARY_HEADER.length).equals(COPY_BINARY_HEADER)) throw new Error('no binary COPY header');
  const rows: Array<Array<Buffer | null>> = [];
  let at = COPY_BINARY_HEADER.length;
  for (;;) {
    const count = input.readInt16BE(at);
    at += 2;
    if (count === -1) break;
    const row: Array<Buffer | null> = [];
    for (let f = 0; f < count; f++) {
      const length = input.readInt32BE(at);
      at += 4;
      row.push(length < 0 ? null : input.subarray(at, (at += length)));
    }
    rows.push(row);
  }
  if (at !== input.length) throw new Error(`${input.length - at} bytes after the trailer`);
  return rows;
}
