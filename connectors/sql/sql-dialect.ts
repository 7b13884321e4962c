/**
 * What the shared SQL reader needs to know about one SQL database: quoting, placeholders, how it binds a
 * cursor value back, and which keyset predicate its optimiser turns into an index range.
 */
import type { CursorScalar } from '../contract';
import type { LexerRules } from './sql-lexer';

/**
 * How a column's values order and bind, decided from its source type.
 * `unordered` columns (JSON, arrays, geometry) cannot be a cursor or a key.
 */
export type ColumnKind =
  'timestamptz' | 'timestamp' | 'date' | 'integer' | 'decimal' | 'float' | 'boolean' | 'binary' | 'text' | 'unordered';

export interface SqlColumn {
  name: string;
  /** The source's own type name (`timestamp with time zone`, `datetime(6)`). */
  type: string;
  kind: ColumnKind;
  nullable: boolean;
  /** SQL type a bound value is cast to (`SIGNED`, `DECIMAL(38,10)`); null when the database infers it. */
  paramCast: string | null;
}

/** Kinds the lag window applies to: the cursor is a point in time. */
export function isTemporal(kind: ColumnKind): boolean {
  return kind === 'timestamptz' || kind === 'timestamp' || kind === 'date';
}

export interface SqlDialect {
  /** For messages: `PostgreSQL`, `MySQL`. */
  readonly name: string;
  /** How the server reads SQL text by default (`:last_pull` templates). */
  readonly lexer: LexerRules;
  /**
   * `row-value`: one `(c, k) > ($1, $2)` predicate (PostgreSQL plans it as one index range).
   * `split`: one statement per key prefix, `c = ? AND k > ?` then `c > ?` (MariaDB/MySQL do not turn a
   * row-value comparison, nor its expansion with OR, into a reliable index range).
   */
  readonly keyset: 'row-value' | 'split';
  quoteIdentifier(name: string): string;
  /** A table name as configured (`table` or `schema.table`), quoted. */
  quoteTable(name: string): string;
  /** Placeholder of the n-th parameter (1-based). */
  placeholder(index: number): string;
  /** A cursor or key value (in its JSON form) as the driver parameter for `column`. */
  toParam(column: SqlColumn, value: CursorScalar): unknown;
  /** An instant (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) as a parameter for `:last_pull`. */
  instantParam(iso: string): unknown;
  /** `column = value` in the form the optimiser uses as an index range prefix. */
  equals(columnSql: string, bind: () => string): string;
  /** `LIMIT n`, inline or bound. */
  limit(params: SqlParams, rows: number): string;
}

/** `quoteTable` of a dialect: `table` or `schema.table` (the first dot separates them), each part quoted. */
export function tableQuoter(quoteIdentifier: (name: string) => string): (name: string) => string {
  return (name) => {
    const dot = name.indexOf('.');
    return dot < 0 ? quoteIdentifier(name) : `${quoteIdentifier(name.slice(0, dot))}.${quoteIdentifier(name.slice(dot + 1))}`;
  };
}

/** Parameters of one statement, in placeholder order. */
export class SqlParams {
  readonly values: unknown[] = [];
  private readonly dialect: SqlDialect;

  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }

  /** Adds a driver value; returns its placeholder. */
  add(value: unknown): string {
    this.values.push(value);
    return this.dialect.placeholder(this.values.length);
  }

  /** Adds a cursor-domain value compared with `column`, cast when the dialect needs it. */
  bind(column: SqlColumn, value: CursorScalar): string {
    const placeholder = this.add(this.dialect.toParam(column, value));
    return column.paramCast ? `CAST(${placeholder} AS ${column.paramCast})` : placeholder;
  }
}
