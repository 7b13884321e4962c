import { randomUUID } from 'node:crypto';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createConnector } from '../../connectors/registry';
import { serviceUrl } from '../helpers/service-url';
import { neo4jParts } from '../helpers/services';
import { defineConnectorConformance } from './connector-conformance';
import { neo4jFactory } from './sources/neo4j-source';

defineConnectorConformance(neo4jFactory);

/** Values only a query returns (a property cannot hold them): nodes, relationships, paths, maps. */
describe('Neo4j query results', () => {
  const label = `Graph_${randomUUID().slice(0, 8)}`;
  let parts: ReturnType<typeof neo4jParts>;
  let ids: { a: string; b: string; r: string };

  const write = async (cypher: string) => {
    const driver = neo4j.driver(parts.uri, neo4j.auth.basic(parts.user, parts.password));
    try {
      return await driver.executeQuery(cypher, {}, { database: 'neo4j' });
    } finally {
      await driver.close();
    }
  };

  beforeAll(async () => {
    parts = neo4jParts(serviceUrl('neo4j'));
    const { records } = await write(
      `CREATE (a:\`${label}\` {id: 1, name: 'a'})-[r:KNOWS {since: 2020}]->(b:\`${label}\`:Extra {id: 2, name: 'b'}) RETURN elementId(a) AS a, elementId(b) AS b, elementId(r) AS r`,
    );
    ids = records[0]?.toObject() as typeof ids;
  });
  afterAll(() => write(`MATCH (n:\`${label}\`) DETACH DELETE n`));

  test('nodes, relationships, paths, maps and lists map to their documented JSON forms', async () => {
    const connector = await createConnector({
      connector_type: 'neo4j',
      connection_config: { ...parts, database: 'neo4j' },
      query: `MATCH p = (a:\`${label}\` {id: 1})-[r:KNOWS]->(b)
RETURN a.id AS id, a.name AS name, a, r, p, [a.id, b.id] AS ids,
       {since: r.since, at: date('2026-01-02'), inner: {big: 9007199254740993}} AS map`,
    });
    try {
      const rows = [];
      for await (const batch of connector.read(
        { mode: 'full', cursor: null, now: await connector.clock(), lastPull: null, batchSize: 10 },
        new AbortController().signal,
      ))
        rows.push(...batch.rows);
      const node = (id: string, labels: string[], properties: Record<string, unknown>) => ({ element_id: id, labels, properties });
      const a = node(ids.a, [label], { id: 1, name: 'a' });
      const b = node(ids.b, expect.arrayContaining([label, 'Extra']) as unknown as string[], { id: 2, name: 'b' });
      const r = { element_id: ids.r, type: 'KNOWS', start: ids.a, end: ids.b, properties: { since: 2020 } };
      expect(rows).toEqual([
        {
          id: 1,
          name: 'a',
          a,
          r,
          p: { nodes: [a, b], relationships: [r] },
          ids: [1, 2],
          map: { since: 2020, at: '2026-01-02', inner: { big: '9007199254740993' } },
        },
      ]);
    } finally {
      await connector.close();
    }
  });
});
