/**
 * A Neo4j source stays read-only. The services' `neo4j` user is an administrator, so nothing but the
 * connector and the server's access mode stand between a tenant's Cypher and a write:
 *
 * 1. The connector refuses text that reads beyond the graph (LOAD CSV, USE, IN TRANSACTIONS, SHOW,
 *    TERMINATE, EXPLAIN/PROFILE) or holds a second statement or an unbalanced bracket, at validation and
 *    again before check/describe/read, through comments, case and `\uXXXX` escapes.
 * 2. Before anything runs, the query (or the label's where) is planned: only query type "r" passes, and
 *    plans with LoadCSV, TransactionApply/Foreach, Show*, Terminate* operators are refused.
 * 3. Every statement runs in a READ access mode transaction; the server refuses writes in it.
 * After every attempt the canary node still has v = 1.
 */
import { randomBytes } from 'node:crypto';
import neo4j, { type Driver } from 'neo4j-driver';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { SourceConnector } from '../../connectors/contract';
import { Neo4jConnector } from '../../connectors/neo4j/neo4j-connector';
import { planOf } from '../../connectors/neo4j/neo4j-read-only';
import { resolveNeo4jSource, type RunRead } from '../../connectors/neo4j/neo4j-source';
import { createConnector } from '../../connectors/registry';
import { serviceUrl } from '../helpers/service-url';
import { neo4jParts } from '../helpers/services';
import { expectConnectorError, expectRefusedEverywhere, readAll, unvalidated } from './source-read-only-cases';

const LABEL = `QsecCanary_${randomBytes(4).toString('hex')}`;
const L = `\`${LABEL}\``;
const never = new AbortController().signal;
let parts: ReturnType<typeof neo4jParts>;
let driver: Driver;
let query: Record<string, unknown>;
let label: Record<string, unknown>;

const canary = async () => {
  const { records } = await driver.executeQuery(
    `MATCH (n:${L}) RETURN n.id AS id, n.v AS v, labels(n) AS labels ORDER BY id`,
    {},
    { database: 'neo4j' },
  );
  const extra = await driver.executeQuery(
    `MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'QsecWritten') RETURN count(n) AS n`,
    {},
    { database: 'neo4j' },
  );
  return { nodes: records.map((r) => [Number(r.get('id')), Number(r.get('v'))]), written: Number(extra.records[0]?.get('n')) };
};
const UNCHANGED = {
  nodes: [
    [1, 1],
    [2, 1],
  ],
  written: 0,
};

beforeAll(async () => {
  parts = neo4jParts(serviceUrl('neo4j'));
  driver = neo4j.driver(parts.uri, neo4j.auth.basic(parts.user, parts.password));
  await driver.executeQuery(`CREATE (:${L} {id: 1, v: 1, name: 'bird'}), (:${L} {id: 2, v: 1, name: 'bird'})`, {}, { database: 'neo4j' });
  const connection = { ...parts, database: 'neo4j' };
  query = { connector_type: 'neo4j', connection_config: connection, query: `MATCH (n:${L}) RETURN n.id AS id, n.name AS name` };
  label = { connector_type: 'neo4j', connection_config: connection, label: LABEL };
});
beforeEach(async () => {
  await driver.executeQuery(`MATCH (n:${L}) SET n.v = 1`, {}, { database: 'neo4j' });
});
afterAll(async () => {
  await driver.executeQuery(
    `MATCH (n) WHERE n:${L} OR any(l IN labels(n) WHERE l STARTS WITH 'QsecWritten') DETACH DELETE n`,
    {},
    { database: 'neo4j' },
  );
  await driver.close();
});

describe('layer 1: text that reads beyond the graph or escapes the statement', () => {
  test('is refused in query mode and in a label where, with and without a cursor, on validation and on check, describe and read', async () => {
    const queries = [
      "LOAD CSV FROM 'file:///etc/hostname' AS l RETURN l[0] AS id, 'x' AS name",
      "load /* */ csv FROM 'https://example.invalid/x.csv' AS l RETURN l[0] AS id, 'x' AS name",
      "\\u004cOAD CSV FROM 'file:///etc/hostname' AS l RETURN l[0] AS id, 'x' AS name",
      `MATCH (n:${L}) WITH n LIMIT 1 LOAD CSV FROM 'file:///etc/hostname' AS l RETURN n.id AS id, l[0] AS name`,
      `MATCH (n:${L}) RETURN n.id AS id, n.name AS name UNION LOAD CSV FROM 'file:///etc/hostname' AS l RETURN 0 AS id, l[0] AS name`,
      // Neo4j decodes \u002a/ first: the comment closes and LOAD CSV runs.
      `MATCH (n:${L}) /* \\u002a/ LOAD CSV FROM 'file:///etc/hostname' AS l /* */ RETURN n.id AS id, n.name AS name`,
      `USE neo4j MATCH (n:${L}) RETURN n.id AS id, n.name AS name`,
      `CALL { USE system SHOW USERS YIELD user RETURN user } RETURN 1 AS id, user AS name`,
      `UNWIND [1] AS i CALL (i) { CREATE (:QsecWritten {i: i}) } IN TRANSACTIONS RETURN i AS id, 'x' AS name`,
      `UNWIND [1] AS i CALL (i) { MATCH (n:${L}) RETURN n } IN TRANSACTIONS OF 1 ROW RETURN n.id AS id, n.name AS name`,
      'SHOW SETTINGS YIELD name, value RETURN 1 AS id, name',
      'SHOW TRANSACTIONS YIELD transactionId RETURN 1 AS id, transactionId AS name',
      "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
      `EXPLAIN MATCH (n:${L}) RETURN n.id AS id, n.name AS name`,
      `PROFILE MATCH (n:${L}) RETURN n.id AS id, n.name AS name`,
      `MATCH (n:${L}) RETURN n.id AS id, n.name AS name; MATCH (m:${L}) SET m.v = 2`,
      `MATCH (n:${L}) RETURN n.id AS id, n.name AS name\\u003b MATCH (m:${L}) SET m.v = 2`,
      `MATCH (n:${L}) RETURN n.id AS id, n.name AS name} MATCH (m:${L}) SET m.v = 2 RETURN m.id AS id, m.name AS name {`,
    ];
    for (const q of queries) {
      await expectRefusedEverywhere(
        query,
        { query: q },
        /the connector only reads|more than one statement|brackets balanced|open - close it/,
        q,
      );
      await expectRefusedEverywhere(
        query,
        { query: q, cursor: { column: 'id' } },
        /the connector only reads|more than one statement|brackets balanced|open - close it/,
        `${q} (cursor)`,
      );
    }
    const wheres = [
      "n.v = 1) WITH n LOAD CSV FROM 'file:///etc/hostname' AS l MATCH (n) WHERE (true",
      'n.v = 1 } MATCH (m) SET m.v = 2 WITH m MATCH (n) WHERE {',
      'n.v = 1) SET n.v = 2 WITH n WHERE (true',
      'n.`a\\u0060) SET n.v = 2 WITH n WHERE (true` = 1',
      "EXISTS { LOAD CSV FROM 'file:///etc/hostname' AS l RETURN l }",
    ];
    for (const where of wheres) {
      await expectRefusedEverywhere(label, { where }, /the connector only reads|brackets balanced|open - close it|ends inside/, where);
      await expectRefusedEverywhere(
        label,
        { where, cursor: { column: 'id' } },
        /the connector only reads|brackets balanced|open - close it|ends inside/,
        `${where} (cursor)`,
      );
    }
    expect(await canary()).toEqual(UNCHANGED);
  });
});

describe('layer 2: the plan', () => {
  test('writes, however spelled, are refused before they run: Neo4j plans them as something other than a read', async () => {
    const writes = [
      `CREATE (n:QsecWritten {id: 100}) RETURN n.id AS id, 'x' AS name`,
      `MATCH (n:${L}) SET n.v = 2 RETURN n.id AS id, n.name AS name`,
      `match (n:${L}) /* a comment */ set n.v = 2 return n.id as id, n.name as name`,
      `MATCH (n:${L}) \\u0053ET n.v = 2 RETURN n.id AS id, n.name AS name`,
      `MATCH (n:${L}) REMOVE n.name RETURN n.id AS id, 'x' AS name`,
      `MERGE (n:QsecWritten {id: 101}) RETURN n.id AS id, 'x' AS name`,
      `MATCH (n:${L}) FOREACH (x IN [1] | SET n.v = 2) RETURN n.id AS id, n.name AS name`,
      `MATCH (n:${L}) CALL (n) { SET n.v = 2 } RETURN n.id AS id, n.name AS name`,
      `MATCH (n:${L} {id: 2}) DETACH DELETE n RETURN 2 AS id, 'x' AS name`,
      "CALL db.createLabel('QsecWrittenLabel') RETURN 1 AS id, 'x' AS name",
      'CALL dbms.components() YIELD name RETURN 1 AS id, name',
      "CALL tx.setMetaData({a: 1}) RETURN 1 AS id, 'x' AS name",
    ];
    for (const q of writes) {
      for (const def of [
        { ...query, query: q },
        { ...query, query: q, cursor: { column: 'id' } },
      ]) {
        const connector = await createConnector(def);
        try {
          await expectConnectorError(connector.check(), 'permission', /the connector only reads, and this query writes|query type/, q);
          await expectConnectorError(readAll(connector), 'permission', /only reads/, q);
        } finally {
          await connector.close();
        }
      }
    }
    expect(await canary()).toEqual(UNCHANGED);
  });

  test('without the text check, the plan alone refuses LOAD CSV, IN TRANSACTIONS, SHOW and TERMINATE', async () => {
    const run: RunRead = async (cypher, params = {}) => {
      const session = driver.session({ defaultAccessMode: neo4j.session.READ, database: 'neo4j' });
      try {
        return await session.executeRead(async (tx) => {
          const result = tx.run(cypher, params);
          const keys = (await result.keys()).map(String);
          const { records, summary } = await result;
          return { rows: records.map((r) => r.toObject() as Record<string, unknown>), keys, plan: planOf(summary) };
        });
      } finally {
        await session.close();
      }
    };
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ query: "LOAD CSV FROM 'file:///etc/hostname' AS l RETURN l[0] AS id" }, /LoadCSV/],
      [{ query: `UNWIND [1] AS i CALL (i) { MATCH (n:${L}) RETURN n } IN TRANSACTIONS RETURN n.id AS id` }, /TransactionApply/],
      [{ query: 'SHOW SETTINGS YIELD name RETURN name AS id' }, /ShowSettings/],
      [{ query: "TERMINATE TRANSACTIONS 'neo4j-transaction-1'" }, /TerminateTransactions/],
      [{ where: "EXISTS { LOAD CSV FROM 'file:///etc/hostname' AS l RETURN l }" }, /LoadCSV/],
    ];
    for (const [overrides, operator] of refused) {
      const def = unvalidated('where' in overrides ? label : query, overrides);
      await expectConnectorError(resolveNeo4jSource(run, def), 'permission', operator, JSON.stringify(overrides));
    }
    expect(await canary()).toEqual(UNCHANGED);
  });
});

describe('layer 3: READ access mode', () => {
  test('pages and streams refuse writes on the server, also in batched transactions', async () => {
    const connector = new Neo4jConnector(unvalidated(query, {}));
    try {
      for (const cypher of [
        `MATCH (n:${L}) SET n.v = 2`,
        'CREATE (:QsecWritten {id: 1})',
        `MATCH (n:${L}) DETACH DELETE n`,
        "CALL db.createLabel('QsecWrittenLabel')",
      ]) {
        await expectConnectorError(connector.page({ cypher, params: {} }), 'permission', /only reads/, `page: ${cypher}`);
        await expectConnectorError(drain(connector, cypher), 'permission', /only reads/, `stream: ${cypher}`);
      }
      await expectConnectorError(
        drain(connector, `UNWIND [1] AS i CALL (i) { MATCH (n:${L}) SET n.v = 2 } IN TRANSACTIONS`),
        'permission',
        /only reads/,
        'IN TRANSACTIONS',
      );
    } finally {
      await connector.close();
    }
    expect(await canary()).toEqual(UNCHANGED);
  });

  test('(what READ access mode lets through, and the connector therefore refuses: LOAD CSV reads the server’s files, SHOW lists settings, TERMINATE reaches other transactions)', async () => {
    const connector = new Neo4jConnector(unvalidated(query, {}));
    try {
      const lines = await connector
        .page({ cypher: "LOAD CSV FROM 'file:///etc/hostname' AS l RETURN l", params: {} })
        .catch((err: Error) => err);
      // The server reads the file, or refuses it for its own configuration (no file URLs, an import directory), never for the access mode.
      if (lines instanceof Error) expect(lines.message).not.toMatch(/access mode|only reads/i);
      else expect(lines.length).toBeGreaterThan(0);
      expect((await connector.page({ cypher: 'SHOW SETTINGS YIELD name RETURN name LIMIT 1', params: {} })).length).toBe(1);
      expect((await connector.page({ cypher: "TERMINATE TRANSACTIONS 'neo4j-transaction-0'", params: {} })).length).toBe(1);
    } finally {
      await connector.close();
    }
  });

  test('(the same writes in a WRITE session change the graph)', async () => {
    await driver.executeQuery(`MATCH (n:${L}) SET n.v = 2`, {}, { database: 'neo4j' });
    expect((await canary()).nodes).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });
});

async function drain(connector: SourceConnector & Neo4jConnector, cypher: string): Promise<void> {
  for await (const rows of connector.stream({ cypher, params: {} }, 10, never)) expect(rows).toBeDefined();
}
