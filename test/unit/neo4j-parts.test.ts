import { expect, test } from 'vitest';
import { neo4jParts } from '../helpers/services';

test('a Neo4j test URL splits into a driver URI and credentials', () => {
  expect(neo4jParts('bolt://neo4j:p%40ss@127.0.0.1:7687')).toEqual({ uri: 'bolt://127.0.0.1:7687', user: 'neo4j', password: 'p@ss' });
});
