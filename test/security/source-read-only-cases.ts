/**
 * What the source-read-only tests share: the ways to end or escape a transaction, the shapes tenant text can
 * hide them in, and the two ways to meet a connector: through `createConnector` (validation first) and
 * through the type's own factory with a definition that skipped validation (as a connector stored before a
 * rule existed would), where the connector must refuse again before it reads.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../connectors/config-error';
import { validateConnectorConfig, type ConnectorDefinition } from '../../connectors/connector-config';
import { ConnectorError } from '../../connectors/connector-error';
import type { ReadPlan, Row, SourceConnector } from '../../connectors/contract';
import { connectorTypes, createConnector } from '../../connectors/registry';

/** Everything the connector can be asked to do with a definition: each must be refused. */
export const PATHS = ['check', 'describe', 'read'] as const;

const never = new AbortController().signal;

export async function readAll(connector: SourceConnector, mode: ReadPlan['mode'] = 'full'): Promise<Row[]> {
  const rows: Row[] = [];
  const plan: ReadPlan = { mode, cursor: null, now: await connector.clock(), lastPull: null, batchSize: 100 };
  for await (const batch of connector.read(plan, never)) rows.push(...batch.rows);
  return rows;
}

async function run(connector: SourceConnector, path: (typeof PATHS)[number]): Promise<unknown> {
  if (path === 'check') return connector.check();
  if (path === 'describe') return connector.describe();
  return readAll(connector);
}

/** The error `promise` fails with; fails the test when it succeeds. */
export async function failure(promise: Promise<unknown>, label: string): Promise<Error> {
  const outcome = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(outcome, `${label}: expected a refusal`).toBeInstanceOf(Error);
  return outcome as Error;
}

/**
 * `overrides` on top of `base` is refused by validation (a ConfigError whose message matches `pattern`), and,
 * built without validation, by the connector on check(), describe() and read() alike.
 */
export async function expectRefusedEverywhere(
  base: Record<string, unknown>,
  overrides: Record<string, unknown>,
  pattern: RegExp,
  label: string,
): Promise<void> {
  const raw = { ...base, ...overrides };
  const created = await failure(
    createConnector(raw).then(async (c) => {
      await c.close();
    }),
    `${label} (validation)`,
  );
  expect(created, label).toBeInstanceOf(ConfigError);
  expect(created.message, label).toMatch(pattern);

  const definition = unvalidated(base, overrides);
  for (const path of PATHS) {
    const connector = await (connectorTypes[definition.connector_type] as (typeof connectorTypes)[string]).create(definition);
    try {
      const err = await failure(run(connector, path), `${label} (${path})`);
      expect(err, `${label} (${path})`).toBeInstanceOf(ConfigError);
      expect(err.message, `${label} (${path})`).toMatch(pattern);
    } finally {
      await connector.close();
    }
  }
}

/**
 * `overrides` (query, where, cursor in the same mode as `base`) on a validated `base`, the result not validated:
 * what a definition stored before a rule existed may hold.
 */
export function unvalidated(base: Record<string, unknown>, overrides: Record<string, unknown>): ConnectorDefinition {
  const valid = validateConnectorConfig(base);
  const cursor = overrides.cursor as Record<string, unknown> | undefined;
  return {
    ...valid,
    ...overrides,
    cursor: cursor ? { column: null, tiebreaker: null, lag_seconds: null, initial_value: null, ...cursor } : valid.cursor,
  } as ConnectorDefinition;
}

/** A connector error of `kind` from `promise`, whose message matches `pattern`. */
export async function expectConnectorError(
  promise: Promise<unknown>,
  kind: ConnectorError['kind'],
  pattern: RegExp,
  label: string,
): Promise<ConnectorError> {
  const err = await failure(promise, label);
  expect(err, `${label}: ${err.message}`).toBeInstanceOf(ConnectorError);
  expect((err as ConnectorError).kind, `${label}: ${err.message}`).toBe(kind);
  expect(err.message, label).toMatch(pattern);
  return err as ConnectorError;
}

/**
 * Ways to end the READ ONLY transaction or start a writable one, each followed by the write `update`. The
 * SQL servers' own spellings; a source takes the ones it understands.
 */
export function transactionEscapes(update: string): string[] {
  return [
    `COMMIT; ${update}`,
    `COMMIT; BEGIN; ${update}`,
    `ROLLBACK; ${update}`,
    `END; ${update}`,
    `COMMIT; START TRANSACTION READ WRITE; ${update}`,
    `COMMIT; BEGIN; SET TRANSACTION READ WRITE; ${update}`,
    `COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; ${update}`,
    `COMMIT; SET SESSION TRANSACTION READ WRITE; ${update}`,
    `COMMIT; SET default_transaction_read_only = off; ${update}`,
    `COMMIT; SET SESSION transaction_read_only = 0; ${update}`,
    `COMMIT; RESET ALL; ${update}`,
    `COMMIT; DISCARD ALL; ${update}`,
    `SAVEPOINT s; ROLLBACK TO s; COMMIT; ${update}`,
  ];
}

/**
 * `escape` hidden in query text the ways a lexer can be fooled: after a literal or comment that holds a
 * `;`, closing the derived table the query is wrapped in (the reproduction of issue 12), or plainly.
 */
export function queryShapes(escape: string, hiders: readonly string[]): string[] {
  return [
    `SELECT 1 AS id, 'x' AS name) s; ${escape}; SELECT * FROM (SELECT 1 AS id, 'x' AS name`,
    `SELECT 1 AS id, 'x' AS name; ${escape}`,
    ...hiders.map((hider) => `SELECT 1 AS id, ${hider} AS name; ${escape}`),
  ];
}
