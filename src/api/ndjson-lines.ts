/** One line of an NDJSON body, as bytes (decoded by the caller, so a bad line is refused alone). */
export interface Line {
  /** 1-based line number. */
  number: number;
  bytes: Buffer;
  /** The line was longer than the limit; `bytes` holds its start only. */
  truncated: boolean;
}

/**
 * Splits a byte stream into lines as it arrives. Nothing is read ahead: while the consumer awaits
 * (a batch being written), no chunk is pulled, the socket's buffer fills and TCP pushes back on the
 * sender. A line longer than `maxLineBytes` is cut and flagged instead of growing memory.
 */
export async function* ndjsonLines(body: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<Line> {
  let number = 0;
  let parts: Buffer[] = [];
  let partLength = 0;
  let truncated = false;
  for await (const chunk of body) {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!truncated) {
        const room = maxLineBytes - partLength;
        const piece = chunk.subarray(start, Math.min(end, start + room));
        if (piece.length) {
          parts.push(piece);
          partLength += piece.length;
        }
        if (end - start > room) truncated = true;
      }
      if (nl === -1) break;
      number++;
      const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partLength);
      yield { number, bytes, truncated };
      parts = [];
      partLength = 0;
      truncated = false;
      start = nl + 1;
    }
  }
  if (partLength > 0 || truncated) {
    number++;
    yield { number, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, partLength), truncated };
  }
}
