import { describe, expect, test } from 'vitest';
import { ConnectorError } from '../../../connectors/connector-error';
import { checkPlan, cypherLexer, neo4jReadOnlyIssues } from '../../../connectors/neo4j/neo4j-read-only';
import { lex } from '../../../connectors/sql/sql-lexer';

const query = (text: string) => neo4jReadOnlyIssues({ query: text, where: null }).map((i) => i.msg);
const where = (text: string) => neo4jReadOnlyIssues({ query: null, where: text }).map((i) => i.msg);

function refused(check: (text: string) => string[], texts: string[], pattern: RegExp): void {
  for (const text of texts) {
    const problems = check(text);
    expect(problems.length, text).toBeGreaterThan(0);
    expect(problems.join('\n'), text).toMatch(pattern);
  }
}

describe('Cypher text', () => {
  test('clauses that read beyond the graph are refused through comments, case, escapes and prefixes', () => {
    refused(
      query,
      [
        "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l",
        "load/**/csv FROM 'https://example.invalid/x' AS l RETURN l",
        "MATCH (n) WITH n LIMIT 1 LOAD CSV WITH HEADERS FROM 'file:///x' AS l RETURN l",
        "\\u004cOAD CSV FROM 'file:///etc/passwd' AS l RETURN l",
        "MATCH (n) RETURN n UNION LOAD CSV FROM 'file:///x' AS n RETURN n",
        // Neo4j decodes \u002a/ before reading: the comment ends and LOAD CSV is code.
        "MATCH (n) WHERE n.x = 1 /* \\u002a/ LOAD CSV FROM 'x' AS l /* */ RETURN n",
        'USE system SHOW USERS',
        'CALL { USE other MATCH (n) RETURN n } RETURN n',
        'UNWIND [1] AS i CALL (i) { MERGE (:X {i: i}) } IN TRANSACTIONS RETURN i',
        'SHOW SETTINGS',
        'SHOW TRANSACTIONS YIELD transactionId RETURN transactionId',
        "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
        'EXPLAIN MATCH (n) RETURN n',
        'PROFILE MATCH (n) RETURN n',
        'profile\u00a0MATCH (n) RETURN n',
      ],
      /the connector only reads the graph/,
    );
  });

  test('names spelled like those words are not clauses', () => {
    for (const text of [
      'MATCH (load:Truck) RETURN load.weight AS weight',
      'MATCH (n) RETURN n.use AS use_count, n.show AS shown',
      'RETURN {load: 1, use: 2} AS m',
      'MATCH (n:`LOAD`) RETURN `use`.x AS x',
      "RETURN 'LOAD CSV FROM x' AS s // USE system",
      'MATCH (n) RETURN n /* SHOW USERS */',
    ]) {
      expect(query(text), text).toEqual([]);
    }
  });

  test('a second statement, an open literal or comment, and unbalanced brackets are refused', () => {
    refused(
      query,
      ['MATCH (n) RETURN n; MATCH (m) DETACH DELETE m', 'RETURN 1 AS x\\u003b RETURN 2 AS y', 'RETURN 1 AS x;;RETURN 2'],
      /more than one statement/,
    );
    expect(query("RETURN ';' AS s;")).toEqual([]);
    refused(query, ["RETURN 'abc", 'RETURN 1 /* x', 'RETURN `abc', "RETURN '\\'"], /ends inside/);
    refused(
      where,
      [
        "n.x = 1) WITH n LOAD CSV FROM 'x' AS l MATCH (n) WHERE (true",
        'n.x = 1 } MATCH (m) RETURN m UNION MATCH (n) WHERE {',
        'n.x IN [1, 2',
        // Neo4j decodes \u0060 inside backticks: the quoted name ends there.
        'n.`a\\u0060) OR (true` = 1',
      ],
      /brackets balanced|open - close it|ends inside/,
    );
    expect(where('n.x = 1 // trailing comment')).toEqual([]);
    expect(where('EXISTS { MATCH (n)-[:R]->(m) WHERE m.x > 1 }')).toEqual([]);
  });

  test('the lexer decodes \\uXXXX the way Neo4j does (an escaped backslash escapes nothing)', () => {
    expect(lex('RETURN \\u0061', cypherLexer).text).toBe('RETURN a');
    expect(lex("RETURN '\\\\u0027'", cypherLexer).text).toBe("RETURN '\\\\u0027'");
    expect(lex('RETURN \\\\\\u0041', cypherLexer).text).toBe('RETURN \\\\A');
  });
});

describe('Neo4j plans', () => {
  const plan = (queryType: string, operators: string[], database = 'neo4j') => ({ queryType, operators, database });
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      return err as ConnectorError;
    }
    return null;
  };

  test('only a read of the configured database passes', () => {
    expect(refusal(() => checkPlan(plan('r', ['ProduceResults', 'NodeByLabelScan']), 'neo4j', 'query'))).toBeNull();
    expect(refusal(() => checkPlan(plan('r', ['ProcedureCall']), 'neo4j', 'query'))).toBeNull();
    for (const [p, message] of [
      [plan('rw', ['Create']), /query type "rw"/],
      [plan('w', ['ProcedureCall']), /query type "w"/],
      [plan('s', ['ProcedureCall']), /query type "s"/],
      [plan('r', ['ProduceResults', 'LoadCSV']), /LoadCSV/],
      [plan('r', ['TransactionApply']), /TransactionApply/],
      [plan('r', ['TransactionForeach']), /TransactionForeach/],
      [plan('r', ['ShowSettings']), /ShowSettings/],
      [plan('r', ['TerminateTransactions']), /TerminateTransactions/],
      [plan('r', ['ProduceResults'], 'system'), /runs on "system"/],
    ] as const) {
      const err = refusal(() => checkPlan(p, 'neo4j', 'query'));
      expect(err, JSON.stringify(p)).toBeInstanceOf(ConnectorError);
      expect(err!.kind).toBe('permission');
      expect(err!.message).toMatch(/only reads/);
      expect(err!.message).toMatch(message);
    }
  });
});
