/**
 * User SQL as a template: `:last_pull` placeholders found outside string literals, quoted identifiers and
 * comments, trailing semicolons removed (the text is wrapped as a derived table or a cursor declaration).
 */
import { lex, trailingSemicolons, type LexerRules } from './sql-lexer';

export interface SqlTemplate {
  /** The text split at each `:last_pull`; n placeholders give n + 1 parts. */
  readonly parts: readonly string[];
}

/** Finds the `:last_pull` placeholders of `sql` and drops trailing semicolons. */
export function parseSqlTemplate(sql: string, rules: LexerRules): SqlTemplate {
  const lexed = lex(sql, rules);
  let text = sql;
  for (const t of trailingSemicolons(lexed)) text = `${text.slice(0, t.start)} ${text.slice(t.end)}`;
  const parts: string[] = [];
  let start = 0;
  for (const t of lexed.tokens) {
    if (t.kind !== 'placeholder') continue;
    parts.push(text.slice(start, t.start));
    start = t.end;
  }
  parts.push(text.slice(start).trimEnd());
  return { parts };
}

/** The template's text with each `:last_pull` replaced by `placeholder()` (called once per occurrence, in order). */
export function renderSqlTemplate(template: SqlTemplate, placeholder: () => string): string {
  let out = template.parts[0] as string;
  for (let i = 1; i < template.parts.length; i++) out += placeholder() + template.parts[i];
  return out;
}
