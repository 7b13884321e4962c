import { describe, expect, test } from 'vitest';
import { mysqlDialect } from '../../../connectors/mysql/mysql-dialect';
import { postgresqlDialect } from '../../../connectors/postgresql/postgresql-dialect';
import type { SqlColumn, SqlParams } from '../../../connectors/sql/sql-dialect';
import { pageStatements, type PageQuery } from '../../../connectors/sql/sql-keyset';

const col = (name: string, kind: SqlColumn['kind'], paramCast: string | null = null): SqlColumn => ({
  name,
  type: kind,
  kind,
  nullable: false,
  paramCast,
});
const updatedAt = col('updated_at', 'timestamp');
const region = col('region', 'text');
// Described by PostgreSQL (types inferred) and by MySQL (bound values cast to the column type).
const pgId = col('id', 'integer');
const id = col('id', 'integer', 'SIGNED');

function query(dialect: typeof postgresqlDialect, after: PageQuery['after']): PageQuery {
  return {
    head: () => `SELECT * FROM ${dialect.quoteTable('shop.items')}`,
    filters: [(p: SqlParams) => `${dialect.quoteIdentifier('updated_at')} <= ${p.bind(updatedAt, '2026-01-02T00:00:00.000000Z')}`],
    order: [updatedAt, region, after?.columns.at(-1) ?? id],
    after,
  };
}

describe('keyset page statements', () => {
  test('PostgreSQL: one row-value predicate on the whole position', () => {
    const statements = pageStatements(
      postgresqlDialect,
      query(postgresqlDialect, { columns: [updatedAt, region, pgId], values: ['2026-01-01T00:00:00.000000Z', 'eu', 7] }),
    );
    expect(statements).toHaveLength(1);
    expect(statements[0]?.(100)).toEqual({
      sql: 'SELECT * FROM "shop"."items"\nWHERE "updated_at" <= $1\n  AND ("updated_at", "region", "id") > ($2, $3, $4)\nORDER BY "updated_at", "region", "id"\nLIMIT 100',
      values: ['2026-01-02T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'eu', 7],
    });
  });

  test('MySQL: one range statement per key prefix, deepest first, values cast to the column type', () => {
    const statements = pageStatements(
      mysqlDialect,
      query(mysqlDialect, { columns: [updatedAt, region, id], values: ['2026-01-01T00:00:00.000000Z', 'eu', '9007199254740993'] }),
    );
    expect(statements.map((s) => s(10))).toEqual([
      {
        sql:
          'SELECT * FROM `shop`.`items`\nWHERE `updated_at` <= ?\n  AND `updated_at` >= ? AND `updated_at` <= ? AND `region` >= ? AND `region` <= ? AND `id` > CAST(? AS SIGNED)\n' +
          'ORDER BY `updated_at`, `region`, `id`\nLIMIT ?',
        values: [
          '2026-01-02 00:00:00.000000',
          '2026-01-01 00:00:00.000000',
          '2026-01-01 00:00:00.000000',
          'eu',
          'eu',
          '9007199254740993',
          10,
        ],
      },
      {
        sql: 'SELECT * FROM `shop`.`items`\nWHERE `updated_at` <= ?\n  AND `updated_at` >= ? AND `updated_at` <= ? AND `region` > ?\nORDER BY `updated_at`, `region`, `id`\nLIMIT ?',
        values: ['2026-01-02 00:00:00.000000', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'eu', 10],
      },
      {
        sql: 'SELECT * FROM `shop`.`items`\nWHERE `updated_at` <= ?\n  AND `updated_at` > ?\nORDER BY `updated_at`, `region`, `id`\nLIMIT ?',
        values: ['2026-01-02 00:00:00.000000', '2026-01-01 00:00:00.000000', 10],
      },
    ]);
  });

  test('the first page has no position predicate', () => {
    const [first] = pageStatements(mysqlDialect, query(mysqlDialect, null));
    expect(first?.(5).sql).toBe('SELECT * FROM `shop`.`items`\nWHERE `updated_at` <= ?\nORDER BY `updated_at`, `region`, `id`\nLIMIT ?');
  });

  test('binary keys bind as bytes', () => {
    const hash = col('hash', 'binary');
    const [pgPage] = pageStatements(postgresqlDialect, {
      ...query(postgresqlDialect, { columns: [hash], values: ['AAEC/w=='] }),
      filters: [],
      order: [hash],
    });
    expect(pgPage?.(1).values).toEqual([Buffer.from([0, 1, 2, 255])]);
  });
});
