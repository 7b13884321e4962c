import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Queryable } from '../db/pool';
import { copyField, CopyText } from './copy-text';
import { ReadyRecord } from './ready-record';
import type { EntityRow } from './record';

/**
 * A batch whose keys are all new, written by COPY straight into the entities table instead of an INSERT … SELECT from
 * its jsonb document: no jsonb parse of the whole batch, no tuplestore of its rows, no expression per row, and (with the
 * ids given, so no volatile default is left to evaluate) PostgreSQL's multi-row heap inserts. About a fifth less of the
 * backend's CPU for the statement (bench/pull/statement-cpu.ts). A key that exists fails the COPY as it failed the plain
 * insert (unique violation on `entities_dedup`), and the caller upserts the batch instead.
 */
export const COPY_NEW_ENTITIES_SQL =
  'copy entities (id, tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, connector_id) from stdin';

/**
 * `n` time-ordered ids (UUIDv7: 48 bits of Unix milliseconds, the version, the variant, then random bits), as the
 * table's default `entity_uuid_v7()` makes them, so a first load still appends to the primary key and the listing
 * index. One clock reading and one draw of random bytes for them all: a batch's ids are made within the same millisecond.
 */
export function newEntityIds(n: number): string[] {
  const ms = Date.now().toString(16).padStart(12, '0');
  const prefix = ms.slice(0, 8) + '-' + ms.slice(8) + '-7';
  const hex = randomBytes(n * 10).toString('hex');
  const ids = new Array<string>(n);
  for (let i = 0, at = 0; i < n; i++, at += 20) {
    // 74 random bits: 12 after the version, the variant's two bits (10) and 2 more, then 60.
    const variant = VARIANT[parseInt(hex[at + 3]!, 16) & 3]!;
    ids[i] = prefix + hex.slice(at, at + 3) + '-' + variant + hex.slice(at + 4, at + 7) + '-' + hex.slice(at + 7, at + 19);
  }
  return ids;
}

const VARIANT = '89ab';

/** Rows per piece of COPY text: each is made and sent on its own, so no batch-sized text or buffer is ever whole. */
const ROWS_PER_CHUNK = 500;

/** A batch of new rows for `COPY_NEW_ENTITIES_SQL`, with a new id for each: `ids[i]` is the id of `rows[i]`. */
export interface EntitiesCopy {
  /** The batch's rows in dedup-key order, the order every writer takes its locks in (see `entitiesDocument`). */
  rows: EntityRow[];
  ids: string[];
  /** The rows as COPY text (UTF-8) in `COPY_NEW_ENTITIES_SQL`'s columns, piece by piece, in `rows`' order. */
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
  const head = '\t' + copyField(tenantId) + '\t' + copyField(vertical) + '\t' + copyField(entityType) + '\t';
  const tail = Buffer.from('\t' + (connectorId === null ? '\\N' : copyField(connectorId)) + '\n');
  const ids = newEntityIds(ordered.length);
  function* chunks(): Generator<Buffer> {
    for (let from = 0; from < ordered.length; from += ROWS_PER_CHUNK) {
      const text = new CopyText();
      for (let i = from; i < Math.min(from + ROWS_PER_CHUNK, ordered.length); i++) {
        const r = ordered[i]!;
        // A record made as COPY text goes as it is: no string of its name or document is made.
        if (r instanceof ReadyRecord) {
          text.write(ids[i] + head);
          r.copyTo(text);
        } else {
          const sourceId = r.sourceId === null ? '\\N' : copyField(r.sourceId);
          text.write(ids[i] + head + copyField(r.name) + '\t' + sourceId + '\t' + copyField(r.dedupKey) + '\t' + copyField(r.data));
        }
        text.copy(tail);
      }
      yield text.done();
    }
  }
  return { rows: ordered, ids, chunks };
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
