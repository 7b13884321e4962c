import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../../connectors/config-error';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import { mysqlReadOnly } from '../../../connectors/mysql/mysql-read-only';
import { postgresqlReadOnly } from '../../../connectors/postgresql/postgresql-read-only';
import { sqlTextProblems } from '../../../connectors/sql/sql-read-only';

const pgQuery = (sql: string) => sqlTextProblems(sql, 'query', postgresqlReadOnly);
const pgWhere = (sql: string) => sqlTextProblems(sql, 'where', postgresqlReadOnly);
const myQuery = (sql: string) => sqlTextProblems(sql, 'query', mysqlReadOnly);
const myWhere = (sql: string) => sqlTextProblems(sql, 'where', mysqlReadOnly);

/** Asserts that every text is refused, with a message matching `pattern`. */
function refused(check: (sql: string) => string[], texts: string[], pattern: RegExp): void {
  for (const text of texts) {
    const problems = check(text);
    expect(problems.length, text).toBeGreaterThan(0);
    expect(problems.join('\n'), text).toMatch(pattern);
  }
}

function accepted(check: (sql: string) => string[], texts: string[]): void {
  for (const text of texts) expect(check(text), text).toEqual([]);
}

const UPDATE = 'UPDATE canary SET v = 999 WHERE id = 1';

describe('statement separators', () => {
  test('PostgreSQL: a ";" before the end is refused wherever it hides between literals and comments', () => {
    refused(
      pgQuery,
      [
        `SELECT 1 AS id, 'x' AS name) s; COMMIT; ${UPDATE}; SELECT * FROM (SELECT 1 AS id, 'x' AS name`,
        `SELECT 1; COMMIT; ${UPDATE}`,
        `SELECT 1;${UPDATE}`,
        `SELECT 1 ;\n${UPDATE}`,
        `SELECT 1; -- a comment after the separator\n${UPDATE}`,
        `SELECT ';' AS s;; ${UPDATE}`,
        `SELECT 1 /* ; */ ; ${UPDATE}`,
        `SELECT 1 /* outer /* nested ; */ still a comment ; */ ; ${UPDATE}`,
        `SELECT $$;$$ AS a; ${UPDATE}`,
        `SELECT $tag$ $$ ; $tag$ AS a; ${UPDATE}`,
        `SELECT E'\\';' AS a; ${UPDATE}`,
        `SELECT 'it''s' AS a; ${UPDATE}`,
        `SELECT "a;b" FROM t; ${UPDATE}`,
        // With standard_conforming_strings on (pinned by the session) '\' is a whole string: the ";" is code.
        `SELECT '\\'; ${UPDATE}; --'`,
        `SELECT 1; COMMIT; BEGIN; ${UPDATE}`,
        `SELECT 1; ROLLBACK; ${UPDATE}`,
        `SELECT 1; END; ${UPDATE}`,
        'SELECT 1; START TRANSACTION READ WRITE',
        'SELECT 1; SET TRANSACTION READ WRITE',
        'SELECT 1; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
        'SELECT 1; SET default_transaction_read_only = off',
        'SELECT 1; RESET ALL',
        'SELECT 1; DO $$ BEGIN PERFORM 1; END $$',
        'SELECT 1; CALL p()',
        'SELECT 1; PREPARE w AS UPDATE canary SET v = 1; EXECUTE w',
        'SELECT 1; DISCARD ALL',
        'SELECT 1; LISTEN c',
      ],
      /more than one statement \(";" at character \d+\) - the connector only reads/,
    );
    refused(
      pgWhere,
      [`id > 0); COMMIT; ${UPDATE}; SELECT 1 WHERE (true`, `id > 0; ${UPDATE}`, `name = 'a'';'; ${UPDATE}`],
      /more than one statement/,
    );
  });

  test('PostgreSQL: ";" inside literals, quoted names, dollar quotes and comments, and at the end, is text', () => {
    accepted(pgQuery, [
      "SELECT ';' AS s",
      'SELECT 1 AS a -- ; UPDATE t\n',
      'SELECT 1 AS a /* ; UPDATE t */',
      'SELECT 1 AS a /* outer /* nested ; */ ; */',
      'SELECT $$;$$ AS a, $t$ ; $t$ AS b',
      "SELECT E'\\';' AS a",
      "SELECT 'a'';b' AS a",
      'SELECT "a;b" FROM t',
      'SELECT 1;',
      'SELECT 1 ; ; -- done',
      'SELECT 1; /* done */',
    ]);
  });

  test('MySQL: "--" needs a space to start a comment, "#" starts one, and backslashes pass every sql_mode', () => {
    refused(
      myQuery,
      [
        `SELECT 1; ${UPDATE}`,
        `SELECT 1 --; ${UPDATE}`,
        `SELECT 1 /* ; */; ${UPDATE}`,
        // Default sql_mode: one string. NO_BACKSLASH_ESCAPES: '\' ends the string and the ";" is code.
        `SELECT '\\'; ${UPDATE}; -- '`,
        `SELECT "\\"; ${UPDATE}; -- "`,
        // The other way round: under NO_BACKSLASH_ESCAPES one string, by default the ";" is code.
        `SELECT '\\\\'; ${UPDATE}; -- '`,
        'SELECT 1; START TRANSACTION READ WRITE',
        'SELECT 1; SET SESSION TRANSACTION READ WRITE',
        'SELECT 1; SET SESSION transaction_read_only = 0',
        'SELECT 1; COMMIT',
      ],
      /more than one statement/,
    );
    accepted(myQuery, [
      "SELECT ';' AS s",
      'SELECT 1 AS a -- ; UPDATE t',
      'SELECT 1 AS a # ; UPDATE t',
      "SELECT 'it''s;' AS a",
      'SELECT `a;b` FROM t',
      'SELECT 1;',
    ]);
    refused(myWhere, [`id > 0; ${UPDATE}`, `name = '\\'; ${UPDATE}; -- '`], /more than one statement/);
  });

  test('MySQL executable comments run their content: refused', () => {
    refused(
      myQuery,
      ['SELECT 1 /*! ; UPDATE t SET v = 1 */', 'SELECT 1 /*!50000 , LOAD_FILE("/etc/passwd") */ AS a', 'SELECT 1 /*M! , SLEEP(5) */'],
      /executable comment/,
    );
    accepted(myQuery, ['SELECT /*+ MAX_EXECUTION_TIME(1000) */ id FROM t', 'SELECT 1 /* ! not executable */']);
  });
});

describe('text that escapes what it is wrapped in', () => {
  test('a literal, quoted name or comment left open is refused, for every dialect', () => {
    refused(pgQuery, ["SELECT 'abc", 'SELECT "abc', 'SELECT $$abc', 'SELECT 1 /* abc', 'SELECT 1 /* /* */', "SELECT E'\\'"], /ends inside/);
    refused(myQuery, ["SELECT 'abc", 'SELECT `abc', 'SELECT 1 /* abc', "SELECT 'a\\'"], /ends inside/);
    refused(pgWhere, ["name = 'abc", 'id > 0 /*'], /ends inside/);
  });

  test('a bracket closed that was not opened, or left open, is refused', () => {
    refused(
      pgQuery,
      ["SELECT 1 AS id, 'x' AS name) s, (SELECT 2", 'SELECT (1', 'SELECT arr[1) FROM t'],
      /brackets balanced|open - close it/,
    );
    refused(
      pgWhere,
      ['id > 0) OR (true', 'id > 0) UNION SELECT * FROM secrets WHERE (true', 'id IN (1, 2'],
      /brackets balanced|open - close it/,
    );
    refused(myWhere, ['id > 0) OR (1 = 1'], /brackets balanced/);
    accepted(pgWhere, ['id IN (SELECT id FROM t WHERE (a > 1))', "name = ')'", 'arr[1] = 2', 'id > 0 -- trailing comment']);
  });
});

describe('what a query starts with', () => {
  test('anything but SELECT, WITH, VALUES or TABLE is refused, behind comments and parentheses too', () => {
    const writes = [
      'INSERT INTO t VALUES (1)',
      UPDATE,
      'DELETE FROM t',
      'COMMIT',
      'ROLLBACK',
      'BEGIN',
      'START TRANSACTION READ WRITE',
      'SET TRANSACTION READ WRITE',
      'SET default_transaction_read_only = off',
      'RESET ALL',
      'DO $$ BEGIN END $$',
      'CALL p()',
      'EXECUTE w',
      'DISCARD ALL',
      'LISTEN c',
      'COPY t TO PROGRAM $$id$$',
      'TRUNCATE t',
      '  -- note\n/* x */ (update t set a = 1)',
      'lock table t',
      'EXPLAIN ANALYZE UPDATE t SET a = 1',
    ];
    refused(pgQuery, writes, /the connector only reads: query must be one SELECT, WITH, VALUES or TABLE statement/);
    refused(
      myQuery,
      [
        ...writes.filter((w) => !w.includes('$$')),
        'HANDLER t OPEN',
        'LOAD DATA INFILE "/etc/passwd" INTO TABLE t',
        '# c\nREPLACE INTO t VALUES (1)',
        'KILL 1',
        'FLUSH TABLES',
      ],
      /query must be one SELECT/,
    );
    accepted(pgQuery, [
      'select 1',
      'WITH x AS (SELECT 1) SELECT * FROM x',
      'VALUES (1, 2)',
      'TABLE t',
      '(SELECT 1) UNION (SELECT 2)',
      '/* c */ SELECT 1',
      '-- c\nSELECT 1',
    ]);
  });
});

describe('functions a READ ONLY transaction lets through', () => {
  test('PostgreSQL: refused however the name is written, wherever it is called', () => {
    refused(
      pgQuery,
      [
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT pg_catalog.set_config('a', 'b', false)",
        "SELECT \"set_config\"('a', 'b', false)",
        "SELECT SET_CONFIG /* c */ ('a', 'b', false)",
        "SELECT U&\"set\\005fconfig\"('a', 'b', false)",
        "SELECT U&\"set!005fconfig\" UESCAPE '!' ('a', 'b', false)",
        'SELECT pg_advisory_lock(1)',
        'SELECT pg_try_advisory_lock_shared(1)',
        "SELECT dblink_exec('dbname=x', 'UPDATE canary SET v = 1')",
        "SELECT * FROM public.dblink('dbname=x', 'SELECT 1') AS t(a int)",
        "SELECT lo_import('/etc/passwd')",
        "SELECT lo_from_bytea(0, 'x')",
        "SELECT pg_notify('c', 'x')",
        'SELECT pg_logical_emit_message(true, $$p$$, $$m$$)',
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT * FROM pg_ls_dir('/')",
        'SELECT pg_terminate_backend(1)',
        "SELECT query_to_xml('SELECT pg_advisory_lock(1)', true, false, '')",
        'SELECT pg_sleep(10)',
        'SELECT 1 FROM t WHERE pg_sleep_for(interval $$1 hour$$) IS NULL',
      ],
      /the connector only reads: \w+\(\) is refused because it/,
    );
    refused(pgWhere, ['pg_advisory_lock(id) IS NOT NULL', "set_config('a', 'b', false) = 'b'"], /is refused/);
    accepted(pgQuery, [
      'SELECT set_config FROM t',
      "SELECT 'pg_sleep(1)' AS a",
      'SELECT 1 AS a /* pg_sleep(1) */',
      'SELECT t.pg_sleep_column FROM t',
      'SELECT nextval_like(1)',
    ]);
  });

  test('MySQL: LOAD_FILE, GET_LOCK, sleeps and INTO OUTFILE are refused', () => {
    refused(
      myQuery,
      [
        "SELECT LOAD_FILE('/etc/passwd') AS a",
        "SELECT load_file /* c */ ('/etc/passwd') AS a",
        "SELECT `LOAD_FILE`('/etc/passwd') AS a",
        "SELECT GET_LOCK('x', 0) AS a",
        'SELECT SLEEP(5) AS a',
        "SELECT BENCHMARK(100000000, MD5('x')) AS a",
        "SELECT 1 INTO OUTFILE '/tmp/x'",
        "SELECT 1 into/**/dumpfile '/tmp/x'",
        "SELECT 1 FROM t INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ','",
      ],
      /the connector only reads: .* is refused because it/,
    );
    accepted(myQuery, ["SELECT 'LOAD_FILE(1)' AS a", 'SELECT `outfile` FROM t', 'SELECT @x := 1 AS a', 'SELECT 1 INTO @x']);
  });
});

describe('validation', () => {
  test('refused text is an issue at query or where (the API answers 422 with it)', () => {
    const def = (extra: Record<string, unknown>) => ({
      connector_type: 'postgresql',
      connection_config: { dsn: 'postgres://u:p@h:5432/db' },
      ...extra,
    });
    const issues = (extra: Record<string, unknown>) => {
      try {
        validateConnectorConfig(def(extra));
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).issues;
      }
    };
    expect(issues({ query: `SELECT 1; ${UPDATE}` })).toEqual([
      { loc: ['query'], msg: expect.stringContaining('more than one statement'), type: 'invalid_value' },
    ]);
    expect(issues({ table: 't', where: 'pg_advisory_lock(1) IS NULL' })).toEqual([
      { loc: ['where'], msg: expect.stringContaining('pg_advisory_lock() is refused'), type: 'invalid_value' },
    ]);
    expect(issues({ query: 'SELECT id, name FROM t WHERE updated_at > :last_pull' })).toEqual([]);
    const mysql = { connector_type: 'mysql', connection_config: { host: 'h', user: 'u', database: 'd' } };
    expect(() => validateConnectorConfig({ ...mysql, query: "SELECT '\\'; UPDATE t SET a = 1; -- '" })).toThrow(/more than one statement/);
  });
});

describe('hostile sizes', () => {
  test('300 KB of text built to be slow or to produce many problems is checked in linear time, with a few messages', () => {
    // Linear: about 0.2 s each here. A check quadratic in the text would take minutes.
    const mb = (unit: string) => unit.repeat(Math.ceil(300_000 / unit.length));
    const texts = [
      `SELECT ${mb('U&"a" UESCAPE \'!\' , ')}1`,
      `SELECT ${mb('(')}`,
      `SELECT ${mb(')')}`,
      `SELECT 1 ${mb('; x ')}`,
      `SELECT ${mb('lo_a(1), pg_sleep(1), dblink_x(1), ')}1`,
      `SELECT ${mb("'\\' ")}`,
      `SELECT ${mb('/* /* ')}`,
      `SELECT ${mb('$a$ ')}`,
    ];
    for (const text of texts) {
      for (const rules of [postgresqlReadOnly, mysqlReadOnly]) {
        const started = performance.now();
        const problems = sqlTextProblems(text, 'query', rules);
        expect(performance.now() - started, text.slice(0, 30)).toBeLessThan(10_000);
        expect(problems.length, text.slice(0, 30)).toBeLessThanOrEqual(10);
      }
    }
  }, 120_000);
});
