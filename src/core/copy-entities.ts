import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Queryable } from '../db/pool';
import { binaryField, COPY_BINARY_HEADER, COPY_BINARY_TRAILER, CopyBinary, NULL_FIELD, uuidBytes, uuidText } from './copy-binary';
import { ReadyRecord } from './ready-record';
import type { EntityRow } from './record';

/**
 * A batch whose keys are all new, written by COPY straight into the entities table instead of an INSERT … SELECT from
 * its jsonb document: no jsonb parse of the whole batch, no tuplestore of its rows, no expression per row, and (with the
 * ids given, so no volatile default is left to evaluate) PostgreSQL's multi-row heap inserts. About a fifth less of the
 * backend's CPU for the statement (bench/pull/statement-cpu.ts), and in COPY's binary format a sixth less again
 * (copy-binary.ts). A key that exists fails the COPY as it failed the plain insert (unique violation on
 * `entities_dedup`), and the caller upserts the batch instead.
 */
export const COPY_NEW_ENTITIES_SQL =
  'copy entities (id, tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, connector_id) from stdin (format binary)';

/** The fields of `COPY_NEW_ENTITIES_SQL`'s rows. */
const FIELDS = 9;

/**
 * `n` time-ordered ids (UUIDv7: 48 bits of Unix milliseconds, the version, the variant, then random bits), as the
 * table's default `entity_uuid_v7()` makes them, so a first load still appends to the primary key and the listing
 * index: 16 bytes each, the i-th at `16 * i`. One clock reading for them all: a batch's ids are made within the same
 * millisecond.
 */
export function newEntityIds(n: number): Buffer {
  const ids = randomBytes(n * 16);
  const ms = Date.now();
  for (let at = 0; at < ids.length; at += 16) {
    ids.writeUIntBE(ms, at, 6);
    ids[at + 6] = 0x70 | (ids[at + 6]! & 0x0f);
    ids[at + 8] = 0x80 | (ids[at + 8]! & 0x3f);
  }
  return ids;
}

/** Rows per piece of COPY input: each is made and sent on its own, so no batch-sized buffer is ever whole. */
const ROWS_PER_CHUNK = 500;

/** A batch of new rows for `COPY_NEW_ENTITIES_SQL`, with a new id for each. */
export interface EntitiesCopy {
  /** The batch's rows in dedup-key order, the order every writer takes its locks in (see `entitiesDocument`). */
  rows: EntityRow[];
  /** The id of `rows[i]`. */
  idOf(i: number): string;
  /** The rows in COPY's binary format, header to trailer, piece by piece, in `rows`' order. */
  chunks(): Generator<Buffer>;
}

export function entitiesCopy(
  rows: EntityRow[],
  tenantId: string,
  vertical: string,
  entityType: string,
  connectorId: string | null,
): EntitiesCopy {
  const ordered = [...rows].sort((a, b) => (a.dedupKey < b.dedupKey ? -1 : a.dedupKey > b.dedupKey ? 1 : 0));
  const head = new CopyBinary();
  head.copy(binaryField(uuidBytes(tenantId)));
  head.text(vertical);
  head.text(entityType);
  const after = Buffer.from(head.done());
  const tail = connectorId === null ? NULL_FIELD : binaryField(uuidBytes(connectorId));
  const ids = newEntityIds(ordered.length);
  const idField = Buffer.from([0, 0, 0, 16]);
  function* chunks(): Generator<Buffer> {
    // Each piece starts with the room the one before took: rows of a batch are much alike, so it seldom grows.
    let room = 1 << 16;
    for (let from = 0; from < ordered.length || from === 0; from += ROWS_PER_CHUNK) {
      const out = new CopyBinary(room);
      if (from === 0) out.copy(COPY_BINARY_HEADER);
      for (let i = from; i < Math.min(from + ROWS_PER_CHUNK, ordered.length); i++) {
        const r = ordered[i]!;
        out.row(FIELDS);
        out.copy(idField);
        out.copy(ids, i * 16, i * 16 + 16);
        out.copy(after);
        // A record made in this format goes as it is: no string of its name or document is made.
        if (r instanceof ReadyRecord) r.copyTo(out);
        else {
          out.text(r.name);
          if (r.sourceId === null) out.null();
          else out.text(r.sourceId);
          out.text(r.dedupKey);
          out.jsonb(r.data);
        }
        out.copy(tail);
      }
      if (from + ROWS_PER_CHUNK >= ordered.length) out.copy(COPY_BINARY_TRAILER);
      const piece = out.done();
      room = piece.length + 1024;
      yield piece;
    }
  }
  return { rows: ordered, idOf: (i) => uuidText(ids, i * 16), chunks };
}

/** The part of the driver's connection a COPY FROM STDIN writes to. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/** A `COPY … FROM STDIN` that sends `chunks` once the server asks for it; the driver reports its row count as a query's. */
class CopyIn extends pg.Query {
  constructor(
    sql: string,
    private readonly chunks: Iterable<string | Buffer>,
  ) {
    super(sql);
  }

  /** Set once the server has answered the COPY (done, or failed early): what is left of the input is not sent. */
  private ended = false;

  /**
   * Sends the input a piece at a time, giving the thread back between pieces: making a batch's text takes milliseconds,
   * and the other statements on their way meanwhile (a pull's other writer, its read) would otherwise wait for all of it.
   */
  handleCopyInResponse(connection: CopyConnection): void {
    const pieces = this.chunks[Symbol.iterator]();
    const send = () => {
      if (this.ended) return;
      let next: IteratorResult<string | Buffer>;
      try {
        next = pieces.next();
      } catch (err) {
        connection.sendCopyFail(err instanceof Error ? err.message : String(err));
        return;
      }
      if (next.done) return connection.endCopyFrom();
      connection.sendCopyFromChunk(typeof next.value === 'string' ? Buffer.from(next.value) : next.value);
      setImmediate(send);
    };
    send();
  }

  handleCommandComplete(msg: unknown, connection: unknown): void {
    this.ended = true;
    (pg.Query.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }).handleCommandComplete.call(
      this,
      msg,
      connection,
    );
  }

  handleError(err: Error, connection: unknown): void {
    this.ended = true;
    (pg.Query.prototype as unknown as { handleError(e: Error, c: unknown): void }).handleError.call(this, err, connection);
  }
}

/** Runs `sql` (a COPY FROM STDIN) on `db` with `chunks` as its input; resolves to the rows it wrote. */
export function copyIn(db: Queryable, sql: string, chunks: Iterable<string | Buffer>): Promise<number> {
  return new Promise((resolve, reject) => {
    // Given the callback, a pool releases the client it took for the COPY and a client reports to it alike.
    const done = (err: Error | undefined, result: pg.QueryResult | undefined) => (err ? reject(err) : resolve(result?.rowCount ?? 0));
    (db.query as (q: pg.Submittable, cb: typeof done) => void)(new CopyIn(sql, chunks), done);
  });
}
