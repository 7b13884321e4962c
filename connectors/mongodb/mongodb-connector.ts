import { MongoClient, type Collection, type Db } from 'mongodb';
import { ConfigError } from '../config-error';
import type { CursorScalar, DoctorProbes, ReadPlan, RowBatch, SourceConnector, SourceTable } from '../contract';
import { HELD_BACK_TIMEOUT_MS } from '../read-window';
import { definitionOf, type ConnectorDefinition } from '../connector-definition';
import { ConnectorError } from '../connector-error';
import { microsToIso } from '../iso-time';
import type { SourceReach } from '../source-reach';
import { describeMongodbUri, mongodbClientOptions, type MongodbConnection } from './mongodb-config';
import { mongodbDoctor } from './mongodb-doctor';
import { toConnectorError, type MongodbErrorContext } from './mongodb-errors';
import { mongodbReadOnlyIssues } from './mongodb-read-only';
import { readMongodb } from './mongodb-reader';
import { discoveredKey, resolveMongodbSource, SAMPLE_SIZE, sampleColumns, type MongodbSource } from './mongodb-source';

/**
 * Reads one MongoDB collection, whole or through a filter document (see connectors/README.md). It only
 * sends `find`, `listCollections`, `listIndexes` and `hello`: the `read` role is all it needs.
 */
export class MongodbConnector implements SourceConnector {
  private readonly def: ConnectorDefinition;
  private readonly connection: MongodbConnection;
  private readonly ctx: MongodbErrorContext;
  private client: MongoClient | null = null;
  private source: Promise<MongodbSource> | null = null;

  constructor(definition: ConnectorDefinition, reach?: SourceReach) {
    const def = definitionOf(definition, 'mongodb');
    this.def = def;
    this.connection = { ...def.connection_config, reach };
    this.ctx = describeMongodbUri(this.connection.uri, this.connection.database);
  }

  async check(): Promise<void> {
    const source = await this.mongodbSource();
    // A filter the server rejects (an unknown operator) fails here, not in the first read.
    await this.guard(async () => {
      await this.collection()
        .find(source.filter, { projection: { _id: 1 }, limit: 1 })
        .toArray();
    });
  }

  async describe(): Promise<SourceTable> {
    const source = await this.mongodbSource();
    return { name: this.def.table ?? 'query', columns: source.columns, primaryKey: source.primaryKey, sampled: true };
  }

  async discover(): Promise<SourceTable[]> {
    return this.guard(async () => {
      const db = this.db();
      const collections = await db.listCollections({ type: 'collection' }, { nameOnly: true }).toArray();
      const tables: SourceTable[] = [];
      for (const { name } of collections.sort((a, b) => a.name.localeCompare(b.name))) {
        if (name.startsWith('system.')) continue;
        const collection = db.collection(name);
        const [indexes, sample] = await Promise.all([collection.listIndexes().toArray(), collection.find({}).limit(SAMPLE_SIZE).toArray()]);
        tables.push({ name, columns: sampleColumns(sample), primaryKey: discoveredKey(indexes) });
      }
      return tables;
    });
  }

  /** The server's clock: `hello.localTime` (milliseconds). FerretDB answers `$$NOW` with the literal string. */
  async clock(): Promise<string> {
    return this.guard(async () => {
      const hello = await this.db().admin().command({ hello: 1 });
      const local: unknown = hello.localTime;
      if (!(local instanceof Date))
        throw new ConnectorError(
          'config',
          `MongoDB at ${this.ctx.target} reports no clock (hello.localTime) - a MongoDB 4.4.2 or later server is needed`,
        );
      return microsToIso(BigInt(local.getTime()) * 1000n);
    });
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  /** Rows the lag window keeps from this read: the doctor's own count, under the same time budget as its checks. */
  async heldBack(plan: ReadPlan, cap: number): Promise<{ rows: number; first: CursorScalar } | null> {
    return (await this.doctor(plan, HELD_BACK_TIMEOUT_MS)).heldBack(cap);
  }

  async doctor(plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    const probes = mongodbDoctor(this.collection(), await this.mongodbSource(), this.def, plan, timeoutMs);
    // Every answer goes through the same error mapping as reads (secrets removed, kinds a user can act on).
    const guarded = { ...probes };
    for (const [key, value] of Object.entries(probes)) {
      if (typeof value === 'function') Object.assign(guarded, { [key]: (...args: unknown[]) => this.guard(() => value(...args)) });
    }
    return guarded;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.close();
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    const source = await this.mongodbSource();
    try {
      yield* readMongodb(this.collection(), source, this.def, plan, signal);
    } catch (err) {
      throw toConnectorError(err, this.ctx);
    }
  }

  private mongodbSource(): Promise<MongodbSource> {
    // Checked before every use, not only at validation: the definition may predate a rule.
    const issues = mongodbReadOnlyIssues(this.def);
    if (issues.length) return Promise.reject(new ConfigError(issues));
    if (this.source) return this.source;
    const name = this.def.table ?? this.connection.collection;
    if (name === null) {
      return Promise.reject(
        new ConnectorError('config', 'query mode filters connection_config.collection - set it to the collection the filter applies to'),
      );
    }
    const source = this.guard(() => resolveMongodbSource(this.collection(), this.def, this.connection.database));
    // An empty collection says nothing about its fields' types: look again next time.
    this.source = source;
    source.then(
      (s) => {
        if (s.columns.length === 0) this.source = null;
      },
      () => {
        this.source = null;
      },
    );
    return source;
  }

  private db(): Db {
    this.client ??= new MongoClient(this.connection.uri, {
      appName: 'qanatix',
      maxPoolSize: 2,
      serverSelectionTimeoutMS: this.connection.connect_timeout_seconds * 1000,
      connectTimeoutMS: this.connection.connect_timeout_seconds * 1000,
      readPreference: this.connection.read_preference,
      ...(this.connection.read_concern ? { readConcern: { level: this.connection.read_concern } } : {}),
      // Int64 as bigint (exact), binary as bson Binary, regular expressions as BSONRegExp (any flags).
      useBigInt64: true,
      promoteBuffers: false,
      bsonRegExp: true,
      ...mongodbClientOptions(this.connection),
    });
    return this.client.db(this.connection.database);
  }

  private collection(): Collection {
    return this.db().collection((this.def.table ?? this.connection.collection) as string);
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw toConnectorError(err, this.ctx);
    }
  }
}
