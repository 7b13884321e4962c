/**
 * User SQL as a template: `:last_pull` placeholders found outside string literals, quoted identifiers and
 * comments, trailing semicolons removed (the text is wrapped as a derived table or a cursor declaration).
 */

export interface SqlLexerRules {
  /** Backslash escapes inside '…' and "…" (MySQL); PostgreSQL allows them only in E'…' strings. */
  backslashEscapes: boolean;
  /** PostgreSQL dollar quoting: $$…$$, $tag$…$tag$. */
  dollarQuotes: boolean;
  /** MySQL `# …` comments. */
  hashComments: boolean;
  /** MySQL `identifier` quoting. */
  backticks: boolean;
  /** PostgreSQL block comments nest. */
  nestedComments: boolean;
}

export interface SqlTemplate {
  /** The text split at each `:last_pull`; n placeholders give n + 1 parts. */
  readonly parts: readonly string[];
}

const PLACEHOLDER = ':last_pull';

/** Finds the `:last_pull` placeholders of `sql` and drops trailing semicolons. */
export function parseSqlTemplate(sql: string, rules: SqlLexerRules): SqlTemplate {
  const placeholders: number[] = [];
  let tailSemicolons: number[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const ch = sql[i] as string;
    const next = sql[i + 1];
    if (ch === "'") {
      i = skipQuoted(sql, i, "'", rules.backslashEscapes || isEscapeStringPrefix(sql, i));
      tailSemicolons = [];
    } else if (ch === '"') {
      i = skipQuoted(sql, i, '"', rules.backslashEscapes);
      tailSemicolons = [];
    } else if (ch === '`' && rules.backticks) {
      i = skipQuoted(sql, i, '`', false);
      tailSemicolons = [];
    } else if ((ch === '-' && next === '-') || (ch === '#' && rules.hashComments)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      i = skipBlockComment(sql, i, rules.nestedComments);
    } else if (ch === '$' && rules.dollarQuotes && dollarTagAt(sql, i) !== null) {
      const tag = dollarTagAt(sql, i) as string;
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? n : end + tag.length;
      tailSemicolons = [];
    } else if (ch === ':' && sql.startsWith(PLACEHOLDER, i) && sql[i - 1] !== ':' && !isIdentifierChar(sql[i + PLACEHOLDER.length])) {
      placeholders.push(i);
      i += PLACEHOLDER.length;
      tailSemicolons = [];
    } else {
      if (ch === ';') tailSemicolons.push(i);
      else if (!isSpace(ch)) {
        tailSemicolons = [];
        if (isIdentifierChar(ch)) i = skipWord(sql, i) - 1;
      }
      i++;
    }
  }
  let text = sql;
  for (const at of tailSemicolons) text = `${text.slice(0, at)} ${text.slice(at + 1)}`;
  const parts: string[] = [];
  let start = 0;
  for (const at of placeholders) {
    parts.push(text.slice(start, at));
    start = at + PLACEHOLDER.length;
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

export function usesLastPull(template: SqlTemplate): boolean {
  return template.parts.length > 1;
}

const WRITE_KEYWORDS = new Set([
  'insert', 'update', 'delete', 'merge', 'upsert', 'replace', 'truncate', 'create', 'drop', 'alter', 'grant',
  'revoke', 'copy', 'call', 'do', 'lock', 'vacuum', 'cluster', 'reindex', 'refresh', 'comment', 'set', 'reset',
  'load', 'rename', 'handler', 'discard', 'security', 'import',
]);

/**
 * Whether the statement starts with a keyword that writes or changes state (`INSERT`, `UPDATE`, `CREATE`, …),
 * after leading comments and parentheses. Used only to explain a rejected query.
 */
export function startsWithWriteKeyword(sql: string): boolean {
  const stripped = sql.replace(/^(?:\s+|--[^\n]*\n?|#[^\n]*\n?|\/\*[\s\S]*?\*\/|\()*/, '');
  const word = /^[A-Za-z]+/.exec(stripped)?.[0]?.toLowerCase();
  return word !== undefined && WRITE_KEYWORDS.has(word);
}

function skipQuoted(sql: string, start: number, quote: string, backslash: boolean): number {
  let j = start + 1;
  while (j < sql.length) {
    const ch = sql[j];
    if (backslash && ch === '\\') {
      j += 2;
    } else if (ch === quote) {
      if (sql[j + 1] !== quote) return j + 1;
      j += 2;
    } else {
      j++;
    }
  }
  return sql.length;
}

function skipBlockComment(sql: string, start: number, nested: boolean): number {
  let depth = 0;
  let j = start;
  while (j < sql.length) {
    if (sql[j] === '/' && sql[j + 1] === '*' && (nested || depth === 0)) {
      depth++;
      j += 2;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return sql.length;
}

/** `E'…'` (PostgreSQL escape string) when the quote follows a lone E. */
function isEscapeStringPrefix(sql: string, quoteAt: number): boolean {
  const prev = sql[quoteAt - 1];
  return (prev === 'E' || prev === 'e') && !isIdentifierChar(sql[quoteAt - 2]);
}

function dollarTagAt(sql: string, at: number): string | null {
  if (isIdentifierChar(sql[at - 1])) return null;
  const m = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(sql.slice(at, at + 64));
  return m ? m[0] : null;
}

function skipWord(sql: string, start: number): number {
  let j = start;
  while (j < sql.length && (isIdentifierChar(sql[j]) || sql[j] === '$')) j++;
  return j;
}

function isIdentifierChar(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  const c = ch.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\n' || ch === '\t' || ch === '\r' || ch === '\f';
}
