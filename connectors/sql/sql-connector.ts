import { ConfigError } from '../config-error';
import type { DescribedSource, ReadPlan, Row, RowBatch, SourceConnector, SourceTable } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes } from '../contract';
import { EPOCH_ISO } from '../iso-time';
import { lastPullInstant } from '../read-window';
import { sqlReadOnlyIssues, type SqlReadOnlyRules } from './sql-read-only';
import { heldBackSql, readSql, type HeldBackCount, type SqlSession } from './sql-reader';
import { describeSqlSource, type SqlSource } from './sql-source';

/** What a SQL connector's session offers beyond reading. */
export interface SqlConnectorSession extends SqlSession {
  query<T extends Row>(sql: string, values?: unknown[]): Promise<T[]>;
  /**
   * A statement of the connector's own (no tenant text, no values), in one round trip: on the read-only session but in
   * no transaction of its own, since nothing in it can write or end one.
   */
  ownQuery<T extends Row>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

/** One column of a discovery query's result: the catalog row every SQL source maps its own to. */
export interface CatalogColumn {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  /** Position in the primary key, 0 when not part of it. */
  keyPosition: number;
}

/**
 * Everything the SQL connectors share: the source is described once per connector (lazily, again after a
 * failure), reads go through the one SQL reader, and discovery groups catalog rows into tables. A source
 * supplies its session, its clock query, its catalog query, how it describes a definition and what it refuses
 * in a query (checked again here, before anything runs: the definition may predate a rule).
 */
export abstract class SqlConnector<S extends SqlConnectorSession> implements SourceConnector {
  private source: Promise<SqlSource> | null = null;
  /** What the last read counted beside its last page (`ReadPlan.heldBackCap`), for `heldBack` of the same plan. */
  private heldBackRead: { plan: ReadPlan; held: HeldBackCount } | null = null;

  protected constructor(
    protected readonly def: ConnectorDefinition,
    protected readonly session: S,
  ) {}

  /** Describes the definition against the source (binding `:last_pull` to `lastPull`). */
  protected abstract describeSource(lastPull: string): Promise<SqlSource>;
  /** A query returning one row `{ now }`: the source clock as ISO 8601 UTC with microseconds. */
  protected abstract readonly clockQuery: string;
  /** The readable columns of the source, one row each. */
  protected abstract catalog(): Promise<CatalogColumn[]>;
  protected abstract readonly readOnly: SqlReadOnlyRules;
  /** The doctor's measurements of the described source (`<db>-doctor.ts`). */
  protected abstract doctorProbes(source: SqlSource, plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes>;

  async check(): Promise<void> {
    await this.sqlSource();
  }

  /** Describes the source afresh: a connector kept across runs must see a column's new type (and report the drift) at once. */
  async describe(plan?: Pick<ReadPlan, 'mode' | 'lastPull'>): Promise<DescribedSource> {
    this.source = null;
    const source = await this.sqlSource(plan);
    return { ...describeSqlSource(source, this.def.table ?? 'query'), clock: source.clock };
  }

  async discover(): Promise<SourceTable[]> {
    const tables = new Map<string, SourceTable & { keyPositions: Array<[number, string]> }>();
    for (const r of await this.catalog()) {
      let table = tables.get(r.table);
      if (!table) {
        table = { name: r.table, columns: [], primaryKey: [], keyPositions: [] };
        tables.set(r.table, table);
      }
      table.columns.push({ name: r.column, type: r.type, nullable: r.nullable });
      if (r.keyPosition > 0) table.keyPositions.push([r.keyPosition, r.column]);
    }
    return [...tables.values()].map(({ keyPositions, ...table }) => ({
      ...table,
      primaryKey: keyPositions.sort((a, b) => a[0] - b[0]).map(([, column]) => column),
    }));
  }

  async clock(): Promise<string> {
    const [row] = await this.session.ownQuery<{ now: string }>(this.clockQuery);
    return (row as { now: string }).now;
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  async heldBack(plan: ReadPlan, cap: number): Promise<HeldBackCount> {
    const counted = this.heldBackRead;
    this.heldBackRead = null;
    if (counted?.plan === plan && plan.heldBackCap === cap) return counted.held;
    return heldBackSql(this.session, await this.sqlSource(plan), this.def, plan, cap);
  }

  async doctor(plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    return this.doctorProbes(await this.sqlSource(plan), plan, timeoutMs);
  }

  async close(): Promise<void> {
    await this.session.close();
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    this.heldBackRead = null;
    yield* readSql(this.session, await this.sqlSource(plan), this.def, plan, signal, (held) => (this.heldBackRead = { plan, held }));
  }

  private sqlSource(plan?: Pick<ReadPlan, 'mode' | 'lastPull'>): Promise<SqlSource> {
    const issues = sqlReadOnlyIssues(this.def, this.readOnly);
    if (issues.length) return Promise.reject(new ConfigError(issues));
    this.source ??= this.describeSource(plan ? lastPullInstant(this.def, plan) : EPOCH_ISO);
    this.source.catch(() => {
      this.source = null;
    });
    return this.source;
  }
}
