/**
 * The PostgreSQL side of the shared SQL reader: a small pg pool kept across runs (shared-pools.ts), with the
 * connector's own type parsers, and every statement inside `BEGIN READ ONLY … COMMIT`.
 *
 * Read-only three times over: each statement that holds a tenant's text goes through the extended query
 * protocol, which runs exactly one statement (the simple protocol, pg's choice for a query without values,
 * runs `…; COMMIT; UPDATE …` as written); it runs in a READ ONLY transaction; and the session itself is
 * read-only by default, so not even a new transaction could write. The default is set after connecting,
 * not as a startup option: pg lets a DSN's own `?options=` replace the startup options it is given.
 *
 * Keyset pages run one short transaction each, so the source never holds an idle transaction while the
 * pull commits a batch. Streamed reads keep one transaction open around `DECLARE … CURSOR` / `FETCH n`.
 *
 * The pool's connections pipeline: a transaction's BEGIN leaves in one write with its first statement, its COMMIT
 * with its last (each still its own message, answered in turn), so a describe waits for two answers, not four, and a
 * page without its held-back count for one, not three.
 */
import pg from 'pg';
import type { Row } from '../contract';
import type { SqlColumn } from '../sql/sql-dialect';
import type { Statement, StatementBuilder } from '../sql/sql-keyset';
import type { PageTail, RowForm, SqlSession } from '../sql/sql-reader';
import { postgresqlClientConfig, type PostgresqlConnection } from './postgresql-config';
import { admitPostgresqlConnection } from './postgresql-reach';
import { toConnectorError, type PgErrorContext } from './postgresql-errors';
import { PgTypes, SESSION_SETTINGS } from './postgresql-types';
import { SharedPools, type Lease } from '../shared-pools';
import { ConnectorError } from '../connector-error';
import type { RecordShape } from '../map-record';
import { lex } from '../sql/sql-lexer';
import { CopyRecords } from './postgresql-copy-records';
import { postgresqlDialect } from './postgresql-dialect';

// standard_conforming_strings: the server reads backslashes in '…' as the read-only check did (sql-read-only.ts).
const READ_ONLY_SESSION = 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY';
// A connection serves other connectors' runs later (shared-pools.ts), and a tenant's query may change session settings
// (`set_config(…, false)` runs in a read-only transaction): each use starts from the defaults, read-only again, in
// the same message as its BEGIN.
const BEGIN = `RESET ALL; ${READ_ONLY_SESSION}; BEGIN TRANSACTION READ ONLY; ${SESSION_SETTINGS}; SET LOCAL standard_conforming_strings = on`;
/** The source clock as ISO 8601 UTC with microseconds, one row `{ now }`. */
export const CLOCK_QUERY = `SELECT to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`;
// A describe reads the clock in its BEGIN's message: the pull about to read needs it, and it costs no round trip there.
// Its catalog statement is prepared once per connection and planned once (a custom plan for each run's arrays costs
// PostgreSQL more than running it); the setting is local to the describe's transaction.
const BEGIN_WITH_CLOCK = `${BEGIN}; SET LOCAL plan_cache_mode = force_generic_plan; ${CLOCK_QUERY}`;
const CURSOR_NAME = 'qanatix_rows';
// Local to the transaction: the connection goes back to the pool without it.
const STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)";

// The catalog's word on the described columns (nullability, declared type) and the table's primary key in key order,
// in one statement: $1, $2 the columns' table oids and attribute numbers, $3 the quoted table or null (resolved once).
const CATALOG_STATEMENT = 'qanatix_catalog';
const CATALOG_QUERY =
  "SELECT (SELECT coalesce(json_agg(json_build_object('rel', a.attrelid::int, 'num', a.attnum::int, 'not_null', a.attnotnull, " +
  "'type', format_type(a.atttypid, a.atttypmod))), '[]') " +
  'FROM pg_catalog.pg_attribute a JOIN unnest($1::oid[], $2::int2[]) AS f(rel, num) ON a.attrelid = f.rel AND a.attnum = f.num) AS attributes, ' +
  "(SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') FROM pg_catalog.pg_index i " +
  'CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ' +
  'JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ' +
  'WHERE i.indrelid = (SELECT $3::regclass) AND i.indisprimary) AS primary_key';

/** Kept across runs and shared by connectors that connect the same way (see shared-pools.ts). */
const pools = new SharedPools<pg.Pool>((pool) => pool.end(), { idleMs: 60_000, maxAgeMs: 10 * 60_000, maxIdle: 100 });

export class PostgresqlSession implements SqlSession {
  readonly types = new PgTypes();
  private readonly connection: PostgresqlConnection;
  private readonly errors: PgErrorContext;
  private lease: Lease<pg.Pool> | null = null;

  constructor(connection: PostgresqlConnection, errors: PgErrorContext) {
    this.connection = connection;
    this.errors = errors;
  }

  async readPage(statements: readonly StatementBuilder[], limit: number, tail?: PageTail, form?: RowForm): Promise<Row[]> {
    const shape = statements.length === 1 ? form?.records : undefined;
    return this.readOnly(async (client, last) => {
      // The last statement that can run goes with the COMMIT: the page's last builder when no tail follows it.
      const read = async (builders: readonly StatementBuilder[], limit: number, final: boolean) => {
        let rows: Row[] = [];
        for (const [i, build] of builders.entries()) {
          const { sql, values } = build(limit - rows.length);
          const statement = this.statement(sql, values, form);
          const result = final && i === builders.length - 1 ? await last<Row>(statement) : await client.query<Row>(statement);
          rows = rows.length === 0 ? result.rows : rows.concat(result.rows);
          if (rows.length >= limit) break;
        }
        return rows;
      };
      const rows = shape
        ? await this.copyPage(client, statements[0]!, limit, shape, form!, tail ? null : last)
        : await read(statements, limit, !tail);
      if (tail && rows.length < limit) tail.found(await read(tail.statements, tail.limit, true));
      return rows;
    });
  }

  /**
   * A page read as the server's COPY text and made into records where it can be (postgresql-copy-records.ts): its rows,
   * some of them `ReadyRecord`s. The same statement with `LIMIT 0` goes first, in the same transaction and the same
   * write, for the types of the page's columns (COPY describes none); the table cannot change between the two, the first
   * holds its lock to the end of the transaction. COPY takes no parameters: the page's values are written in as literals.
   */
  private async copyPage(
    client: pg.PoolClient,
    build: StatementBuilder,
    limit: number,
    shape: RecordShape,
    form: RowForm,
    last: LastStatement | null,
  ): Promise<Row[]> {
    const types = form.jsonText ? this.types.pgTypesKeepingJson : this.types.pgTypes;
    let records: CopyRecords | null = null;
    const probe = build(0);
    const described = new Described(this.statement(probe.sql, probe.values, form), (fields) => {
      records = CopyRecords.forPage(fields, (oid) => types.getTypeParser(oid), shape);
    });
    const copy = oneStatement(`COPY (\n${withLiterals(build(limit))}\n) TO STDOUT`);
    const copied = () =>
      submit(
        client,
        new CopyOut(copy, (line) => {
          if (!records) throw new Error('COPY rows before their description');
          records.line(line);
        }),
      );
    const [probed, done] = oneWrite(client, () => [submit(client, described), last ? last(copied) : copied()] as const);
    await Promise.all([probed, done]);
    return records!.rows() as Row[];
  }

  async *stream(statement: Statement, batchSize: number, signal: AbortSignal, form?: RowForm): AsyncGenerator<Row[]> {
    const client = await this.connect();
    let finished = false;
    let broken: Error | undefined;
    try {
      await this.run(client, BEGIN);
      await this.run(client, this.statement(`DECLARE ${CURSOR_NAME} NO SCROLL CURSOR FOR\n${statement.sql}`, statement.values));
      const fetch = `FETCH FORWARD ${Math.trunc(batchSize)} FROM ${CURSOR_NAME}`;
      while (!signal.aborted) {
        const { rows } = await this.run(client, this.statement(fetch, [], form));
        if (rows.length) yield rows;
        if (rows.length < batchSize) break;
      }
      await this.run(client, 'COMMIT');
      finished = true;
    } finally {
      if (!finished) broken = await rollback(client);
      client.release(broken);
    }
  }

  /**
   * Column names and types of a `LIMIT 0` statement, nullability from the catalog where a column maps to one; with
   * `quotedTable` (`table` or `schema.table`, already quoted), that table's primary key columns in key order too. One
   * read-only transaction, which reads the source clock first.
   */
  async describe(statement: Statement, quotedTable: string | null): Promise<{ columns: SqlColumn[]; primaryKey: string[]; clock: string }> {
    let clock = '';
    const described = await this.readOnly(
      async (client, last) => {
        const { fields } = await client.query(this.statement(statement.sql, statement.values));
        await this.types.resolve(
          fields.map((f) => f.dataTypeID),
          async (sql, values) => (await client.query(this.statement(sql, values))).rows,
        );
        const sourced = fields.filter((f) => f.tableID > 0);
        const attributes = new Map<string, { not_null: boolean; type: string }>();
        let primaryKey: string[] = [];
        if (sourced.length || quotedTable !== null) {
          const { rows } = await last<{
            attributes: Array<{ rel: number; num: number; not_null: boolean; type: string }>;
            primary_key: string[];
          }>({
            ...this.statement(CATALOG_QUERY, [sourced.map((f) => f.tableID), sourced.map((f) => f.columnID), quotedTable]),
            name: CATALOG_STATEMENT,
          });
          for (const r of rows[0]!.attributes) attributes.set(`${r.rel}:${r.num}`, r);
          primaryKey = rows[0]!.primary_key;
        }
        const columns = fields.map((f) => {
          const attribute = attributes.get(`${f.tableID}:${f.columnID}`);
          return {
            name: f.name,
            type: attribute?.type ?? this.types.nameOf(f.dataTypeID),
            kind: this.types.kindOf(f.dataTypeID),
            nullable: !attribute?.not_null,
            paramCast: null,
          };
        });
        return { columns, primaryKey };
      },
      BEGIN_WITH_CLOCK,
      (begun) => (clock = (begun.at(-1)!.rows[0] as { now: string }).now),
    );
    return { ...described, clock };
  }

  /** One statement in a read-only transaction; with `timeoutMs`, cancelled by the server after that long. */
  async query<T extends Row>(sql: string, values: unknown[] = [], timeoutMs?: number): Promise<T[]> {
    return this.readOnly(async (client, last) => {
      if (timeoutMs !== undefined) await client.query(this.statement(STATEMENT_TIMEOUT, [`${Math.ceil(timeoutMs)}ms`]));
      return (await last<T>(this.statement(sql, values))).rows;
    });
  }

  /** Our own statement after the reset, in the same simple-protocol message: one round trip. */
  async ownQuery<T extends Row>(sql: string): Promise<T[]> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      // A message of several statements resolves to one result each.
      const results: unknown = await client.query(`RESET ALL; ${READ_ONLY_SESSION}; ${sql}`);
      return (results as pg.QueryResult<T>[]).at(-1)!.rows;
    } catch (err) {
      broken = err as Error;
      throw toConnectorError(err, this.errors);
    } finally {
      client.release(broken);
    }
  }

  /**
   * One statement, parsed with this connector's types (the pool is shared with connectors that have their own), jsonb
   * objects kept as their text when the read asks (`form.jsonText`).
   */
  private statement(text: string, values: unknown[] = [], form?: RowForm): pg.QueryConfig {
    return { ...oneStatement(text, values), types: form?.jsonText ? this.types.pgTypesKeepingJson : this.types.pgTypes };
  }

  /** Hands the pool back: it stays open for the next run that connects the same way. */
  async close(): Promise<void> {
    this.lease?.release();
    this.lease = null;
  }

  /**
   * `work` in a read-only transaction. Its first statement is written with the BEGIN, its last (given to `last`) with
   * the COMMIT. Should the BEGIN's message fail, its statements roll back together (one implicit transaction), so the
   * session stays read-only by default for a statement pipelined behind it.
   */
  private async readOnly<T>(
    work: (client: pg.PoolClient, last: LastStatement) => Promise<T>,
    begin = BEGIN,
    /** The BEGIN message's results, one per statement in it. */
    begun?: (results: pg.QueryResult[]) => void,
  ): Promise<T> {
    const client = await this.connect();
    let committed: Promise<unknown> | null = null;
    const last: LastStatement = (statement) => {
      const send = typeof statement === 'function' ? statement : () => client.query(statement);
      const [result, commit] = oneWrite(client, () => [send(), client.query('COMMIT')] as const);
      // Awaited below when the work succeeds; after a failure the ROLLBACK says what the connection is worth.
      commit.catch(() => {});
      committed = commit;
      return result;
    };
    let broken: Error | undefined;
    try {
      // Both settle before anything else is sent: a statement still in flight never follows the ROLLBACK.
      const [began, worked] = await Promise.allSettled(oneWrite(client, () => [client.query(begin), work(client, last)] as const));
      if (began.status === 'rejected') throw began.reason;
      begun?.(began.value as unknown as pg.QueryResult[]);
      if (worked.status === 'rejected') throw worked.reason;
      await (committed ?? client.query('COMMIT'));
      return worked.value;
    } catch (err) {
      broken = await rollback(client);
      throw toConnectorError(err, this.errors);
    } finally {
      client.release(broken);
    }
  }

  private async run(client: pg.PoolClient, statement: string | pg.QueryConfig): Promise<pg.QueryResult<Row>> {
    try {
      return await client.query<Row>(statement);
    } catch (err) {
      throw toConnectorError(err, this.errors);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      const client = await this.getPool().connect();
      await admitPostgresqlConnection(client, this.connection.reach);
      return client;
    } catch (err) {
      throw toConnectorError(err, this.errors);
    }
  }

  private getPool(): pg.Pool {
    if (this.lease) return this.lease.pool;
    const c = this.connection;
    const settings = { dsn: c.dsn, ssl: c.ssl, timeout: c.connect_timeout_seconds, reach: c.reach?.checked ?? null };
    this.lease = pools.acquire(settings, () => this.newPool());
    return this.lease.pool;
  }

  private newPool(): pg.Pool {
    const c = this.connection;
    const pool = new pg.Pool({
      ...postgresqlClientConfig(c),
      max: 4,
      // Idle connections kept for the next run must not keep a finished process alive.
      allowExitOnIdle: true,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: c.connect_timeout_seconds * 1000,
      application_name: 'qanatix-connector',
      // A statement is sent without waiting for the answer of the one before it (see oneWrite).
      pipeline: true,
      onConnect: (client) => client.query(READ_ONLY_SESSION),
    });
    // A server restart ends each connection with an 'error' event: the pool's for an idle client, the client's own
    // for a checked-out one (a streaming read). The read in flight fails by itself and is retried; unheard, the
    // event would kill the process.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    return pool;
  }
}

/** A statement for the extended query protocol: one statement, whatever its text says (pg would pick the simple one without values). */
function oneStatement(text: string, values: unknown[] = []): pg.QueryConfig {
  return { text, values, queryMode: 'extended' } as pg.QueryConfig;
}

/**
 * A transaction's last statement (its config, or what sends it), sent in one write with its COMMIT; resolves to the
 * statement's result.
 */
type LastStatement = <R extends Row = Row>(statement: pg.QueryConfig | (() => Promise<pg.QueryResult<R>>)) => Promise<pg.QueryResult<R>>;

/** A query whose columns are wanted as soon as the server describes them, before any later answer is read. */
class Described extends pg.Query {
  constructor(
    config: pg.QueryConfig,
    private readonly onFields: (fields: pg.FieldDef[]) => void,
  ) {
    super(config);
  }

  handleRowDescription(msg: { fields: pg.FieldDef[] }): void {
    (pg.Query.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(this, msg);
    this.onFields(msg.fields);
  }
}

/**
 * `COPY … TO STDOUT`: each row's message handed to `onLine` as it comes. What `onLine` throws fails the query when it
 * ends, as a row the driver cannot parse fails it (thrown from the driver's message handler, it would end the process).
 */
class CopyOut extends pg.Query {
  constructor(
    config: pg.QueryConfig,
    private readonly onLine: (line: Buffer) => void,
  ) {
    super(config);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    const query = this as unknown as { _canceledDueToError: unknown };
    if (query._canceledDueToError) return;
    try {
      this.onLine(msg.chunk);
    } catch (err) {
      query._canceledDueToError = err;
    }
  }
}

/** Sends a query object on `client`; resolves to its result. */
function submit(client: pg.PoolClient, query: pg.Query): Promise<pg.QueryResult<Row>> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, result: pg.QueryResult<Row>) => (err ? reject(err) : resolve(result));
    (client.query as (q: pg.Submittable, cb: typeof done) => void)(query, done);
  });
}

/**
 * `statement`'s text with each `$n` outside literals, names and comments replaced by its value as a literal, for a
 * statement that takes no parameters (COPY). The value is text the server reads as it would read the parameter: a
 * string literal of unknown type (an escape string, its backslashes and quotes doubled), NULL for null, bytea in its
 * hex form.
 */
export function withLiterals(statement: Statement): string {
  const { sql, values } = statement;
  let out = '';
  let at = 0;
  for (const t of lex(sql, postgresqlDialect.lexer).tokens) {
    if (t.kind !== 'param' || !/^\$[1-9]\d*$/.test(sql.slice(t.start, t.end))) continue;
    const n = Number(sql.slice(t.start + 1, t.end));
    if (n > values.length) continue; // the server refuses it, as it would have refused the parameter
    out += sql.slice(at, t.start) + literal(values[n - 1]);
    at = t.end;
  }
  return out + sql.slice(at);
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  let text: string;
  if (Buffer.isBuffer(value)) text = '\\x' + value.toString('hex');
  else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    text = String(value);
  else throw new Error(`a parameter of type ${typeof value} cannot be written as a literal`);
  // A NUL would end the statement's text where the server reads it; no value of a column holds one.
  if (text.includes('\0')) {
    throw new ConnectorError(
      'config',
      "a value the read compares with (cursor.initial_value, a backfill's range) holds a NUL character, which PostgreSQL cannot take - remove it",
    );
  }
  // An escape string: read the same whatever standard_conforming_strings says (set on in the transaction, but a BEGIN
  // that failed would leave the role's own setting).
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * The statements `send` makes before it first waits leave in one socket write (the pipelined client would send each
 * at once, a system call and a wake-up of the server each). The socket is the client's own: pg exposes no other way.
 */
function oneWrite<T>(client: pg.PoolClient, send: () => T): T {
  const socket = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
  socket.cork();
  try {
    return send();
  } finally {
    socket.uncork();
  }
}

/** Rolls back after a failure; a client that cannot even do that is returned as broken (destroyed). */
async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
