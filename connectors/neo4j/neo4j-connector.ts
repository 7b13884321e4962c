import neo4j, { type Driver, type Session } from 'neo4j-driver';
import { ConfigError } from '../config-error';
import type { CursorScalar, DoctorProbes, ReadPlan, RowBatch, SourceConnector, SourceTable } from '../contract';
import { HELD_BACK_TIMEOUT_MS } from '../read-window';
import { definitionOf, type ConnectorDefinition } from '../connector-definition';
import type { Neo4jConnection } from './neo4j-config';
import { neo4jDoctor } from './neo4j-doctor';
import { toConnectorError, type Neo4jErrorContext } from './neo4j-errors';
import { neo4jReadOnlyIssues, planOf } from './neo4j-read-only';
import type { Neo4jStatement } from './neo4j-cypher';
import { readNeo4j, type Neo4jReadSession } from './neo4j-reader';
import { resolveNeo4jSource, sampleColumns, SAMPLE_SIZE, type Neo4jSource, type RunRead } from './neo4j-source';
import { fromNeo4j } from './neo4j-types';

/**
 * Reads one Neo4j label or Cypher query (see connectors/README.md). Every statement runs in a READ access
 * mode session (`executeRead`, or an auto-commit READ transaction when streaming), so the server refuses
 * any write.
 */
export class Neo4jConnector implements SourceConnector, Neo4jReadSession {
  private readonly def: ConnectorDefinition;
  private readonly connection: Neo4jConnection;
  private readonly ctx: Neo4jErrorContext;
  private driver: Driver | null = null;
  private source: Promise<Neo4jSource> | null = null;

  constructor(definition: ConnectorDefinition) {
    const def = definitionOf(definition, 'neo4j');
    this.def = def;
    this.connection = def.connection_config;
    const host = /^[a-z+]+:\/\/([^/?#]+)/.exec(this.connection.uri)?.[1] ?? 'the configured server';
    this.ctx = {
      target: `${host}/${this.connection.database ?? '(default database)'}`,
      secrets: this.connection.password ? [this.connection.password] : [],
    };
  }

  async check(): Promise<void> {
    await this.neo4jSource();
  }

  async describe(): Promise<SourceTable> {
    const source = await this.neo4jSource();
    return { name: this.def.table ?? 'query', columns: source.columns, primaryKey: source.primaryKey, sampled: true };
  }

  async discover(): Promise<SourceTable[]> {
    const { rows: labels } = await this.runRead('CALL db.labels() YIELD label RETURN label ORDER BY label');
    const { rows: constraints } = await this.runRead(
      "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type, entityType WHERE entityType = 'NODE' AND type IN ['UNIQUENESS', 'NODE_KEY'] RETURN labelsOrTypes, properties",
    );
    const tables: SourceTable[] = [];
    for (const { label } of labels as Array<{ label: string }>) {
      const keys = constraints.filter((c) => (c.labelsOrTypes as string[]).length === 1 && (c.labelsOrTypes as string[])[0] === label);
      const primaryKey = keys.length === 1 ? (keys[0] as { properties: string[] }).properties : ['element_id'];
      const { rows } = await this.runRead(`MATCH (n:\`${label.replaceAll('`', '``')}\`) RETURN properties(n) AS p LIMIT ${SAMPLE_SIZE}`);
      tables.push({
        name: label,
        columns: sampleColumns(
          rows.map((r) => r.p as Record<string, unknown>),
          primaryKey,
        ),
        primaryKey,
      });
    }
    return tables;
  }

  /** The server's clock: `datetime.statement()` in UTC. */
  async clock(): Promise<string> {
    const { rows } = await this.runRead('RETURN datetime.statement() AS now');
    return fromNeo4j(rows[0]?.now) as string;
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  /** Rows the lag window keeps from this read: the doctor's own count, under the same time budget as its checks. */
  async heldBack(plan: ReadPlan, cap: number): Promise<{ rows: number; first: CursorScalar } | null> {
    return (await this.doctor(plan, HELD_BACK_TIMEOUT_MS)).heldBack(cap);
  }

  async doctor(plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    return neo4jDoctor((cypher, params) => this.runRead(cypher, params, timeoutMs), await this.neo4jSource(), this.def, plan);
  }

  async close(): Promise<void> {
    const driver = this.driver;
    this.driver = null;
    await driver?.close();
  }

  async page(statement: Neo4jStatement): Promise<Array<Record<string, unknown>>> {
    return (await this.runRead(statement.cypher, statement.params)).rows;
  }

  async *stream(statement: Neo4jStatement, batchSize: number, signal: AbortSignal): AsyncGenerator<Array<Record<string, unknown>>> {
    const session = this.session();
    try {
      const result = session.run(statement.cypher, statement.params);
      let rows: Array<Record<string, unknown>> = [];
      for await (const record of result) {
        rows.push(record.toObject() as Record<string, unknown>);
        if (rows.length < batchSize) continue;
        yield rows;
        rows = [];
        if (signal.aborted) return;
      }
      if (rows.length && !signal.aborted) yield rows;
    } catch (err) {
      throw toConnectorError(err, this.ctx);
    } finally {
      // Closing discards what the server has not sent yet.
      await session.close();
    }
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    const source = await this.neo4jSource();
    yield* readNeo4j(this, source, this.def, plan, signal);
  }

  private neo4jSource(): Promise<Neo4jSource> {
    // Checked before every use, not only at validation: the definition may predate a rule.
    const issues = neo4jReadOnlyIssues(this.def);
    if (issues.length) return Promise.reject(new ConfigError(issues));
    if (this.source) return this.source;
    const source = resolveNeo4jSource(this.runRead, this.def);
    this.source = source;
    source.then(
      (s) => {
        if (!s.settled) this.source = null;
      },
      () => {
        this.source = null;
      },
    );
    return source;
  }

  private readonly runRead: RunRead = async (cypher, params = {}, timeoutMs) => {
    const session = this.session();
    try {
      return await session.executeRead(
        async (tx) => {
          const result = tx.run(cypher, params);
          // EXPLAIN returns no records: the column names come from the result header.
          const keys = (await result.keys()).map(String);
          const { records, summary } = await result;
          return { rows: records.map((r) => r.toObject() as Record<string, unknown>), keys, plan: planOf(summary) };
        },
        timeoutMs === undefined ? undefined : { timeout: Math.ceil(timeoutMs) },
      );
    } catch (err) {
      throw toConnectorError(err, this.ctx);
    } finally {
      await session.close();
    }
  };

  private session(): Session {
    this.driver ??= neo4j.driver(this.connection.uri, neo4j.auth.basic(this.connection.user, this.connection.password), {
      userAgent: 'qanatix',
      maxConnectionPoolSize: 2,
      connectionTimeout: this.connection.connect_timeout_seconds * 1000,
      connectionAcquisitionTimeout: this.connection.connect_timeout_seconds * 1000,
      // executeRead retries transient failures (an unknown host too) for this long: keep it to the connect timeout.
      maxTransactionRetryTime: this.connection.connect_timeout_seconds * 1000,
      fetchSize: this.connection.fetch_size,
      disableLosslessIntegers: false,
    });
    return this.driver.session({
      defaultAccessMode: neo4j.session.READ,
      fetchSize: this.connection.fetch_size,
      ...(this.connection.database ? { database: this.connection.database } : {}),
    });
  }
}
