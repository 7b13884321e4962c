import { randomUUID } from 'node:crypto';
import neo4j from 'neo4j-driver';
import { afterAll, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';
import { neo4jParts } from '../../helpers/services';

const { uri, user, password } = neo4jParts(serviceUrl('neo4j'));
const driver = neo4j.driver(uri, neo4j.auth.basic(user, password));
const key = randomUUID();
afterAll(async () => {
  await driver.executeQuery('MATCH (n:Smoke {key: $key}) DETACH DELETE n', { key });
  await driver.close();
});

test('Neo4j: a node written is read back unchanged', async () => {
  await driver.executeQuery('CREATE (:Smoke {key: $key, name: $name, big: $big})', {
    key,
    name: 'Ünïcode ✓',
    big: neo4j.int('9007199254740993'),
  });
  const { records } = await driver.executeQuery('MATCH (n:Smoke {key: $key}) RETURN n.name AS name, n.big AS big', { key });
  expect(records).toHaveLength(1);
  expect(records[0]!.get('name')).toBe('Ünïcode ✓');
  expect(records[0]!.get('big').toString()).toBe('9007199254740993');
});
