import { describe, expect, test } from 'vitest';
import { mysqlDialect } from '../../../connectors/mysql/mysql-dialect';
import { postgresqlDialect } from '../../../connectors/postgresql/postgresql-dialect';
import { parseSqlTemplate, renderSqlTemplate } from '../../../connectors/sql/sql-template';

function render(sql: string, dialect = postgresqlDialect): string {
  let n = 0;
  return renderSqlTemplate(parseSqlTemplate(sql, dialect.lexer), () => `$${++n}`);
}

describe(':last_pull templates', () => {
  test('replaces each :last_pull in code', () => {
    expect(render('SELECT * FROM t WHERE a > :last_pull OR b > :last_pull')).toBe('SELECT * FROM t WHERE a > $1 OR b > $2');
    expect(render('SELECT * FROM t WHERE a>:last_pull)')).toBe('SELECT * FROM t WHERE a>$1)');
  });

  test('leaves literals, quoted identifiers, comments and casts alone', () => {
    const sql = `SELECT ':last_pull', "a:last_pull", x::last_pull, $$ :last_pull $$, $q$ :last_pull $q$, E'\\' :last_pull' -- :last_pull
      /* :last_pull /* nested */ :last_pull */ FROM t WHERE u > :last_pull AND v > :last_pulled`;
    expect(render(sql).match(/\$\d/g)).toEqual(['$1']);
    expect(render(sql)).toContain('WHERE u > $1 AND v > :last_pulled');
  });

  test('MySQL: backslash escapes, backticks and # comments', () => {
    const sql = "SELECT 'it\\'s :last_pull', `:last_pull` # :last_pull\nFROM t WHERE u > :last_pull";
    expect(render(sql, mysqlDialect)).toBe("SELECT 'it\\'s :last_pull', `:last_pull` # :last_pull\nFROM t WHERE u > $1");
  });

  test('PostgreSQL strings do not treat backslashes as escapes', () => {
    expect(render("SELECT 'C:\\' , :last_pull")).toBe("SELECT 'C:\\' , $1");
  });

  test('drops trailing semicolons, even before a trailing comment', () => {
    expect(render('SELECT 1;')).toBe('SELECT 1');
    expect(render('SELECT 1 ; ; -- done')).toBe('SELECT 1     -- done');
    expect(render("SELECT ';'")).toBe("SELECT ';'");
    expect(render('SELECT 1; SELECT 2')).toBe('SELECT 1; SELECT 2');
  });
});
