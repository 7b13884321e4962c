import { BSON, Code } from 'mongodb';
import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../../connectors/config-error';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import { filterIssues, mongodbReadOnlyIssues } from '../../../connectors/mongodb/mongodb-read-only';

const JS = 'function () { return true; }';
const locs = (filter: unknown) => filterIssues(filter, 'query').map((i) => i.loc.join('.'));

describe('MongoDB filters', () => {
  test('operators that run code or write are refused at any depth, in objects and arrays', () => {
    expect(locs({ $where: JS })).toEqual(['query.$where']);
    expect(locs({ $and: [{ a: 1 }, { $or: [{ b: 2 }, { $where: JS }] }] })).toEqual(['query.$and.1.$or.1.$where']);
    expect(locs({ $nor: [{ tags: { $elemMatch: { $where: JS } } }] })).toEqual(['query.$nor.0.tags.$elemMatch.$where']);
    expect(locs({ $expr: { $function: { body: JS, args: [], lang: 'js' } } })).toEqual(['query.$expr.$function']);
    expect(locs({ $expr: { $eq: [{ $accumulator: { init: JS } }, 1] } })).toEqual(['query.$expr.$eq.0.$accumulator']);
    expect(locs({ a: { $all: [[[{ $out: 'x' }]]] } })).toEqual(['query.a.$all.0.0.0.$out']);
    expect(locs({ $expr: { $in: [{ $merge: { into: 'x' } }, [1]] } })).toEqual(['query.$expr.$in.0.$merge']);
    expect(locs({ name: { $eq: { $code: JS } } })).toEqual(['query.name.$eq.$code']);
    expect(locs({ $where: JS, $expr: { $function: {} } }).sort()).toEqual(['query.$expr.$function', 'query.$where']);
    for (const issue of filterIssues({ $where: JS }, 'query'))
      expect(issue.msg).toMatch(/the connector only reads: \$where is refused because it runs JavaScript/);
  });

  test('decoded Extended JSON: a code value is refused wherever it sits', () => {
    const decoded = BSON.EJSON.parse(JSON.stringify({ a: { $in: [{ $code: JS }] } }), { relaxed: true });
    expect(locs(decoded)).toEqual(['query.a.$in.0']);
    expect(locs({ a: new Code(JS) })).toEqual(['query.a']);
  });

  test('what only looks like an operator, and plain filters, pass', () => {
    expect(locs({ where: 1, function: 'x', out: { merge: 1 }, '$where ': 1, $WHERE: 1 })).toEqual([]);
    expect(locs({ updated_at: { $gt: '$last_pull' }, $or: [{ a: { $regex: '^x' } }, { $expr: { $gt: ['$a', '$b'] } }] })).toEqual([]);
  });

  test('a filter nested far deeper than any real one is checked without overflowing the stack', () => {
    let deep: unknown = { $where: JS };
    for (let i = 0; i < 200_000; i++) deep = { $and: [deep] };
    expect(filterIssues(deep, 'where')).toHaveLength(1);
  });

  test('field names that would read as operators are refused; validation reports each at its place', () => {
    const issues = mongodbReadOnlyIssues({
      query: null,
      where: null,
      table: 'c',
      cursor: { column: '$where', tiebreaker: ['$expr'], lag_seconds: null, initial_value: null },
      primary_key: ['$id'],
      columns: ['a', '$b'],
    });
    expect(issues.map((i) => i.loc.join('.'))).toEqual(['cursor.column', 'cursor.tiebreaker', 'primary_key', 'columns']);
    const config = { connector_type: 'mongodb', connection_config: { uri: 'mongodb://h:27017/', database: 'd' } };
    let caught: unknown;
    try {
      validateConnectorConfig({ ...config, collection: 'c', where: '{"\\u0024where": "true"}' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues).toEqual([
      { loc: ['where', '$where'], msg: expect.stringContaining('only reads'), type: 'invalid_value' },
    ]);
  });
});
