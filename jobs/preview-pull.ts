import type { ConnectorDefinition } from '../connectors/connector-definition';
import type { Cursor, Row, SourceTable } from '../connectors/contract';
import { checkMapping } from '../connectors/map-record';
import { createConnector } from '../connectors/registry';
import type { SourcePolicy } from '../connectors/source-policy';
import { prepareBatch, type IngestTarget } from '../src/core/ingest';
import type { RecordProblem } from '../src/core/record';
import { validatorFor } from '../src/core/schema-registry';
import { predictUpsert } from '../src/core/upsert-entities';
import type pg from 'pg';
import { mapRows, rowMapping } from './run-pull';

export type PreviewAction = 'insert' | 'update' | 'unchanged' | 'duplicate' | 'rejected';

export interface PreviewRow {
  /** The row's place among the rows read, from 0. */
  position: number;
  /** What the next pull would do with it; `duplicate`: a later row of the same read has its key (the last one wins). */
  action: PreviewAction;
  /** The record the row maps to; null when it cannot be mapped. */
  record: unknown;
  /** Why it would be rejected. */
  problems?: RecordProblem[];
  /** The source row as read. */
  row: Row;
}

export interface Preview {
  columns: SourceTable['columns'];
  /** The position the read started after (the committed cursor; null from the beginning). */
  cursor: Cursor | null;
  rows: PreviewRow[];
  counts: Record<PreviewAction, number>;
}

/**
 * The first `limit` rows the next incremental pull would read (the same plan, from the committed position), mapped
 * and checked exactly as the pull maps and checks them, each with what the pull would do to its entity. Reads only:
 * nothing is written to the source or to the platform.
 */
export async function previewPull(
  pool: pg.Pool,
  o: {
    definition: ConnectorDefinition;
    target: IngestTarget;
    cursor: Cursor | null;
    lastPull: string | null;
    limit: number;
    policy: SourcePolicy;
  },
): Promise<Preview> {
  const source = await createConnector(o.definition, o.policy);
  try {
    const plan = { mode: 'incremental' as const, cursor: o.cursor, now: await source.clock(), lastPull: o.lastPull, batchSize: o.limit };
    const described = await source.describe(plan);
    checkMapping(o.definition, described);
    const mapping = rowMapping(o.definition, described.primaryKey);
    let rows: Row[] = [];
    for await (const batch of source.read(plan, new AbortController().signal)) {
      rows = batch.rows;
      break;
    }
    const { records, positions, refused } = mapRows(rows, mapping, 0);
    const { tenantId, vertical, entityType } = o.target;
    const prepared = prepareBatch(records, await validatorFor(pool, tenantId, vertical, entityType), { positions, refused });
    const predicted = await predictUpsert(pool, tenantId, vertical, entityType, prepared.rows);

    const out: PreviewRow[] = rows.map((row, position) => ({ position, action: 'rejected', record: null, row }));
    const lastOfKey = new Map<string, number>();
    prepared.keys.forEach((key, i) => key !== null && lastOfKey.set(key, positions[i]!));
    records.forEach((record, i) => {
      const key = prepared.keys[i];
      const entry = out[positions[i]!]!;
      entry.record = record;
      if (key != null) entry.action = lastOfKey.get(key) === positions[i] ? (predicted.get(key) ?? 'insert') : 'duplicate';
    });
    for (const r of prepared.rejections) out[r.position]!.problems = r.problems;
    const counts = { insert: 0, update: 0, unchanged: 0, duplicate: 0, rejected: 0 };
    for (const r of out) counts[r.action]++;
    return { columns: described.columns, cursor: o.cursor, rows: out, counts };
  } finally {
    await source.close();
  }
}
