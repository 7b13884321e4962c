/**
 * The platform-database check that does not depend on addresses. Names and addresses can always be aliased (a
 * proxy, a second listen address, DNS that changes after the check), so each new connection first looks for the
 * marker only the platform's own database carries: a table whose comment names this installation. The comment
 * is read from the catalog, which every role may read, so no grant on the source can hide it.
 */
import { SourceDeniedError } from '../source-denied-error';
import type { SourceReach } from '../source-reach';

const MARKER_QUERY =
  "SELECT pg_catalog.obj_description(c.oid, 'pg_class') AS comment FROM pg_catalog.pg_class c WHERE c.relname = $1 AND c.relkind IN ('r', 'p')";

/** What the check needs of a pooled pg client. */
export interface MarkerClient {
  query(config: { text: string; values: unknown[] }): Promise<{ rows: Array<{ comment: string | null }> }>;
  release(err?: Error | boolean): void;
}

const admitted = new WeakSet<object>();

/**
 * Resolves when `client` (a new or already admitted connection) may be used; otherwise destroys it and throws
 * `SourceDeniedError` (found this installation's marker) or the error of the check itself.
 */
export async function admitPostgresqlConnection(client: MarkerClient, reach: SourceReach | undefined): Promise<void> {
  const marker = reach?.marker;
  if (!marker || admitted.has(client)) return;
  try {
    const { rows } = await client.query({ text: MARKER_QUERY, values: [marker.table] });
    if (rows.some((r) => r.comment === marker.comment)) {
      throw new SourceDeniedError(
        ['dsn'],
        "the server behind connection_config.dsn is this installation's own database: connectors may not read it - " +
          'point the dsn at the database you want to pull from',
      );
    }
  } catch (err) {
    client.release(err instanceof Error ? err : true);
    throw err;
  }
  admitted.add(client);
}
