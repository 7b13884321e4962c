/**
 * How Neo4j is read: the keyset planner's phases (keyset-plan.ts) rendered as Cypher (neo4j-cypher.ts), one
 * statement per page in its own read transaction (`Neo4jReadSession.page`). A streamed read runs the label or
 * the query in one auto-commit READ transaction, `fetch_size` records per pull.
 */
import neo4j from 'neo4j-driver';
import type { CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { checkBatchSize, pages, planRead, rebatch } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { keysetField, pageStatement, streamStatement, type Neo4jStatement } from './neo4j-cypher';
import { ELEMENT_ID_FIELD, type Neo4jSource } from './neo4j-source';
import { fromMap, isoToDateTime } from './neo4j-types';

export interface Neo4jReadSession {
  /** One statement in its own read transaction (`executeRead`), all records at once. */
  page(statement: Neo4jStatement): Promise<Array<Record<string, unknown>>>;
  /** One statement in an auto-commit READ transaction, streamed `batchSize` records at a time. */
  stream(statement: Neo4jStatement, batchSize: number, signal: AbortSignal): AsyncGenerator<Array<Record<string, unknown>>>;
}

export async function* readNeo4j(
  session: Neo4jReadSession,
  source: Neo4jSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  signal: AbortSignal,
): AsyncGenerator<RowBatch> {
  const limit = checkBatchSize(plan.batchSize);
  const shared = { last_pull: isoToDateTime(lastPullInstant(def, plan)) };
  const toRow = source.label !== null ? labelRow : (record: Record<string, unknown>) => fromMap(record);
  const keyset = { cursor: source.cursor && keysetField(source.cursor), key: source.key.map(keysetField), label: source.description };
  const read = planRead(keyset, keysetSettings(def), plan);
  if (read.kind === 'stream') {
    const statement = streamStatement(source);
    statement.params = { ...statement.params, ...shared, limit: neo4j.int(limit) };
    yield* rebatch(mapChunks(session.stream(statement, limit, signal), toRow), limit, () => null, signal);
    return;
  }
  for (const phase of read.phases) {
    if (signal.aborted) return;
    const fetchPage = async (after: CursorScalar[] | null, rows: number): Promise<Row[]> => {
      const statement = pageStatement(source, phase, after);
      statement.params = { ...statement.params, ...shared, limit: neo4j.int(rows) };
      return (await session.page(statement)).map(toRow);
    };
    yield* pages(phase, fetchPage, (row, field) => row[field.name], limit, signal);
  }
}

async function* mapChunks<T>(chunks: AsyncIterable<T[]>, map: (item: T) => Row): AsyncGenerator<Row[]> {
  for await (const chunk of chunks) yield chunk.map(map);
}

function labelRow(record: Record<string, unknown>): Row {
  const row = fromMap(record.row as Record<string, unknown>);
  if (ELEMENT_ID_FIELD in record) row[ELEMENT_ID_FIELD] = record[ELEMENT_ID_FIELD];
  return row;
}
