import neo4j from 'neo4j-driver';
import { describe, expect, test } from 'vitest';
import { validateNeo4jConnection } from '../../../connectors/neo4j/neo4j-config';
import { sampleColumns } from '../../../connectors/neo4j/neo4j-source';
import { fromNeo4j, isoToDateTime, neo4jKind } from '../../../connectors/neo4j/neo4j-types';
import type { ConfigIssue } from '../../../connectors/config-error';

const { DateTime, LocalDateTime, Date: Neo4jDate, Time, LocalTime, Duration, Point, Node, Relationship } = neo4j.types;

describe('Neo4j values → JSON', () => {
  test('Integer is a number only while exact; floats stay numbers, non-finite ones strings', () => {
    expect(fromNeo4j(neo4j.int(42))).toBe(42);
    expect(fromNeo4j(neo4j.int('9007199254740991'))).toBe(9007199254740991);
    expect(fromNeo4j(neo4j.int('9007199254740993'))).toBe('9007199254740993');
    expect(fromNeo4j(neo4j.int('-9223372036854775808'))).toBe('-9223372036854775808');
    expect(fromNeo4j(NaN)).toBe('NaN');
    expect(fromNeo4j(Infinity)).toBe('Infinity');
  });

  test('temporal values keep nanoseconds; DateTime becomes UTC', () => {
    expect(fromNeo4j(new DateTime(2026, 1, 2, 3, 4, 5, 123456789, 7200))).toBe('2026-01-02T01:04:05.123456789Z');
    expect(fromNeo4j(new DateTime(2026, 1, 1, 0, 30, 0, 0, 3600))).toBe('2025-12-31T23:30:00.000000000Z');
    expect(fromNeo4j(new LocalDateTime(2026, 1, 2, 3, 4, 5, 1))).toBe('2026-01-02T03:04:05.000000001');
    expect(fromNeo4j(new Neo4jDate(2026, 1, 2))).toBe('2026-01-02');
    expect(fromNeo4j(new Time(3, 4, 5, 6, -16200))).toBe('03:04:05.000000006-04:30');
    expect(fromNeo4j(new Time(3, 4, 5, 0, 0))).toBe('03:04:05.000000000Z');
    expect(fromNeo4j(new LocalTime(23, 59, 59, 999999999))).toBe('23:59:59.999999999');
  });

  test('durations are ISO 8601 durations', () => {
    expect(fromNeo4j(new Duration(14, 3, 4 * 3600 + 5 * 60 + 6, 789000000))).toBe('P1Y2M3DT4H5M6.789000000S');
    expect(fromNeo4j(new Duration(0, 0, -2, 500000000))).toBe('PT-1.500000000S');
    expect(fromNeo4j(new Duration(0, 0, 0, 0))).toBe('PT0S');
    expect(fromNeo4j(new Duration(-1, 0, 3600, 0))).toBe('P-1MT1H');
  });

  test('points, nodes, relationships, byte arrays, lists and maps', () => {
    expect(fromNeo4j(new Point(neo4j.int(7203), 1.5, 2.5))).toEqual({ srid: 7203, x: 1.5, y: 2.5 });
    expect(fromNeo4j(new Point(neo4j.int(4979), 12.5, 55.75, 10))).toEqual({ srid: 4979, x: 12.5, y: 55.75, z: 10 });
    const node = new Node(neo4j.int(1), ['A'], { big: neo4j.int('9007199254740993') }, '4:x:1');
    expect(fromNeo4j(node)).toEqual({ element_id: '4:x:1', labels: ['A'], properties: { big: '9007199254740993' } });
    const rel = new Relationship(neo4j.int(5), neo4j.int(1), neo4j.int(2), 'KNOWS', { since: neo4j.int(2020) }, '5:x:5', '4:x:1', '4:x:2');
    expect(fromNeo4j(rel)).toEqual({ element_id: '5:x:5', type: 'KNOWS', start: '4:x:1', end: '4:x:2', properties: { since: 2020 } });
    expect(fromNeo4j(new Int8Array([0, 1, 2, -1]))).toBe('AAEC/w==');
    expect(fromNeo4j({ a: [neo4j.int(1), null, { b: new Neo4jDate(2026, 1, 2) }] })).toEqual({ a: [1, null, { b: '2026-01-02' }] });
  });

  test('an ISO timestamp becomes a DateTime with all its digits', () => {
    expect(fromNeo4j(isoToDateTime('2026-01-02T03:04:05.123456789+02:00'))).toBe('2026-01-02T01:04:05.123456789Z');
    expect(fromNeo4j(isoToDateTime('2026-01-02T03:04:05Z'))).toBe('2026-01-02T03:04:05.000000000Z');
    expect(neo4jKind(isoToDateTime('2026-01-02T03:04:05Z'))).toBe('datetime');
    expect(() => isoToDateTime('yesterday')).toThrow(RangeError);
  });

  test('columns list the key first, then properties by name', () => {
    expect(
      sampleColumns([{ updated_at: new Neo4jDate(2026, 1, 2), id: neo4j.int(1), name: 'a' }, { id: neo4j.int(2) }], ['id']).map((c) => [
        c.name,
        c.type,
        c.nullable,
      ]),
    ).toEqual([
      ['id', 'INTEGER', false],
      ['name', 'STRING', true],
      ['updated_at', 'DATE', true],
    ]);
  });
});

describe('Neo4j connection_config', () => {
  const validate = (value: Record<string, unknown>) => {
    const issues: ConfigIssue[] = [];
    const connection = validateNeo4jConnection(value, (loc, msg, type = 'invalid_value') => issues.push({ loc, msg, type }));
    return { connection, issues };
  };

  test('uri, user and password are required; database and fetch size are optional', () => {
    expect(validate({ uri: 'neo4j://db:7687', user: 'reader', password: 's3cret' })).toEqual({
      connection: {
        uri: 'neo4j://db:7687',
        user: 'reader',
        password: 's3cret',
        database: null,
        connect_timeout_seconds: 10,
        fetch_size: 1000,
      },
      issues: [],
    });
    expect(validate({}).issues.map((i) => i.loc.join('.'))).toEqual(['uri', 'user', 'password']);
  });

  test('credentials in the uri, other schemes and unknown keys are refused without echoing the value', () => {
    const { issues } = validate({ uri: 'bolt://neo4j:s3cret@db:7687', user: 'u', password: 'p', fetchsize: 5, fetch_size: 0 });
    expect(issues.map((i) => i.loc.join('.')).sort()).toEqual(['fetch_size', 'fetchsize', 'uri']);
    expect(JSON.stringify(issues)).not.toContain('s3cret');
    expect(validate({ uri: 'http://db:7474', user: 'u', password: 'p' }).issues[0]?.msg).toMatch(/neo4j:\/\//);
  });
});
