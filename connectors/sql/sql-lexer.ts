/**
 * One lexer for the text tenants write: the SQL of each dialect, and Cypher. It finds string literals,
 * quoted identifiers, comments, and the words, parameters and punctuation between them, the way the server
 * will read them, so that `:last_pull` templates and the read-only checks agree with the server on what is
 * code and what is data.
 *
 * `statementProblems` is the check every source's text passes first: one statement, nothing left open,
 * brackets balanced (the text is wrapped in `( … )` or `CALL () { … }` and must not close them itself).
 */

export interface LexerRules {
  /** Backslash escapes in '…' (MySQL unless NO_BACKSLASH_ESCAPES; Cypher). */
  backslashInSingle: boolean;
  /** Backslash escapes in "…" (MySQL strings unless NO_BACKSLASH_ESCAPES or ANSI_QUOTES; Cypher). */
  backslashInDouble: boolean;
  /** PostgreSQL `E'…'` strings, the only ones with backslash escapes there. */
  escapeStrings: boolean;
  /** A quote doubled inside a literal stands for itself (SQL); in Cypher it ends the literal. */
  doubledQuotes: boolean;
  /** "…" is a string (Cypher) or names something (SQL; MySQL's "…" strings are checked as names too, for ANSI_QUOTES). */
  doubleQuotes: 'string' | 'identifier';
  /** `identifier` quoting (MySQL, Cypher). */
  backticks: boolean;
  /** PostgreSQL dollar quoting: $$…$$, $tag$…$tag$. */
  dollarQuotes: boolean;
  /** PostgreSQL block comments nest. */
  nestedComments: boolean;
  /** `-- …` comments: always (PostgreSQL), only before a space or control character (MySQL), never (Cypher's `--` is a pattern). */
  dashComments: 'always' | 'before-space' | 'never';
  /** MySQL `# …` comments. */
  hashComments: boolean;
  /** Cypher `// …` comments. */
  slashComments: boolean;
  /** MySQL and MariaDB run the content of `/*! … *\/` and `/*M! … *\/`. */
  executableComments: boolean;
  /** Cypher decodes `\uXXXX` before reading the text: in names, keywords, comments and strings alike. */
  unicodeEscapes: boolean;
  /** `:last_pull` is a placeholder (SQL); Cypher's `(n:last_pull)` is a label. */
  placeholders: boolean;
}

export type TokenKind =
  /** A keyword, unquoted identifier or number. */
  | 'word'
  /** A quoted identifier: "…" (SQL), `…`. */
  | 'quoted'
  | 'string'
  | 'comment'
  /** `:last_pull`. */
  | 'placeholder'
  /** `$1`, `$name`. */
  | 'param'
  /** Any other single character. */
  | 'punct';

export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
  /** The text ends inside this literal, identifier or comment. */
  unterminated?: boolean;
  /** A MySQL executable comment (`/*! … *\/`): its content runs. */
  executable?: boolean;
  /** A PostgreSQL `U&"…"` identifier: the character its escapes start with (`\`, or its `UESCAPE 'c'`). */
  unicode?: string;
}

export interface Lexed {
  /** The text as the server reads it (Cypher: `\uXXXX` escapes decoded); token offsets point into it. */
  text: string;
  tokens: Token[];
}

const PLACEHOLDER = ':last_pull';

export function lex(source: string, rules: LexerRules): Lexed {
  const text = rules.unicodeEscapes ? decodeUnicodeEscapes(source) : source;
  const tokens: Token[] = [];
  const n = text.length;
  let i = 0;
  const push = (kind: TokenKind, start: number, end: number, extra: Partial<Token> = {}) => {
    const closed = Math.min(end, n);
    tokens.push({ kind, start, end: closed, ...extra, ...(end > n ? { unterminated: true } : {}) });
    i = closed;
  };
  while (i < n) {
    const ch = text[i] as string;
    const next = text[i + 1];
    if (isSpace(ch)) {
      i++;
    } else if (ch === "'") {
      const backslash = rules.backslashInSingle || (rules.escapeStrings && isEscapeStringPrefix(text, i));
      push('string', i, skipQuoted(text, i, "'", backslash, rules.doubledQuotes));
    } else if (ch === '"') {
      const unicode = isUnicodePrefix(text, i) ? { unicode: '\\' } : {};
      push(
        rules.doubleQuotes === 'string' ? 'string' : 'quoted',
        i,
        skipQuoted(text, i, '"', rules.backslashInDouble, rules.doubledQuotes),
        unicode,
      );
    } else if (ch === '`' && rules.backticks) {
      push('quoted', i, skipQuoted(text, i, '`', false, true));
    } else if (ch === '-' && next === '-' && isDashComment(text, i, rules)) {
      push('comment', i, lineEnd(text, i));
    } else if ((ch === '#' && rules.hashComments) || (ch === '/' && next === '/' && rules.slashComments)) {
      push('comment', i, lineEnd(text, i));
    } else if (ch === '/' && next === '*') {
      const executable = rules.executableComments && (text[i + 2] === '!' || /^[mM]!/.test(text.slice(i + 2, i + 4)));
      push('comment', i, skipBlockComment(text, i, rules.nestedComments), executable ? { executable } : {});
    } else if (ch === '$' && rules.dollarQuotes && dollarTagAt(text, i) !== null) {
      const tag = dollarTagAt(text, i) as string;
      const close = text.indexOf(tag, i + tag.length);
      push('string', i, close < 0 ? n + 1 : close + tag.length);
    } else if (ch === '$' && next !== undefined && (isIdentifierChar(next) || next === '`')) {
      push('param', i, next === '`' ? skipQuoted(text, i + 1, '`', false, true) : skipWord(text, i + 1));
    } else if (
      rules.placeholders &&
      ch === ':' &&
      text.startsWith(PLACEHOLDER, i) &&
      text[i - 1] !== ':' &&
      !isIdentifierChar(text[i + PLACEHOLDER.length])
    ) {
      push('placeholder', i, i + PLACEHOLDER.length);
    } else if (isIdentifierChar(ch)) {
      push('word', i, skipWord(text, i));
    } else {
      push('punct', i, i + 1);
    }
  }
  resolveUescapes(text, tokens);
  return { text, tokens };
}

/** A `U&"…"` name followed by `UESCAPE 'c'` takes `c` as its escape character. */
function resolveUescapes(text: string, tokens: Token[]): void {
  const code = codeTokens(tokens);
  code.forEach((t, i) => {
    const word = code[i + 1];
    const value = code[i + 2];
    if (t.unicode && word?.kind === 'word' && text.slice(word.start, word.end).toLowerCase() === 'uescape' && value?.kind === 'string') {
      t.unicode = text[value.start + 1] ?? '\\';
    }
  });
}

/** Tokens that are code: everything but comments (MySQL executable comments are code: see `statementProblems`). */
export function codeTokens(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'comment');
}

/**
 * The `;` tokens at the end of the text (only comments and other `;` after them): a trailing `;` ends the
 * one statement, any other separates two.
 */
export function trailingSemicolons(lexed: Lexed): Token[] {
  const out: Token[] = [];
  for (let j = lexed.tokens.length - 1; j >= 0; j--) {
    const t = lexed.tokens[j] as Token;
    if (t.kind === 'comment') continue;
    if (t.kind !== 'punct' || lexed.text[t.start] !== ';') break;
    out.unshift(t);
  }
  return out;
}

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS = new Set(Object.values(OPENERS));

/**
 * What makes the text unsafe to wrap, whatever it says: a literal, identifier or comment left open, a
 * statement separator before the end, a bracket closed that it did not open (or left open), and MySQL
 * executable comments. Each message names the setting and what to change.
 */
export function statementProblems(lexed: Lexed, setting: string): string[] {
  const problems: string[] = [];
  const at = (t: Token) => `character ${t.start + 1}`;
  const trailing = new Set(trailingSemicolons(lexed));
  const open: Token[] = [];
  let unbalanced = false;
  let separated = false;
  for (const t of lexed.tokens) {
    const ch = lexed.text[t.start] as string;
    if (t.unterminated) {
      const what = t.kind === 'comment' ? 'a comment' : t.kind === 'quoted' ? 'a quoted name' : 'a string literal';
      problems.push(`${setting} ends inside ${what} opened at ${at(t)} - close it`);
    } else if (t.executable) {
      problems.push(
        `${setting} holds a MySQL executable comment (/*! … */) at ${at(t)}, whose content runs as SQL - write that SQL plainly or remove it`,
      );
    } else if (t.kind === 'punct' && ch === ';' && !trailing.has(t)) {
      if (!separated)
        problems.push(
          `${setting} holds more than one statement (";" at ${at(t)}) - the connector only reads, with one statement: remove the ";" and what follows it`,
        );
      separated = true;
    } else if (t.kind === 'punct' && OPENERS[ch] !== undefined && !unbalanced) {
      open.push(t);
    } else if (t.kind === 'punct' && CLOSERS.has(ch) && !unbalanced) {
      const opener = open.pop();
      if (!opener || OPENERS[lexed.text[opener.start] as string] !== ch) {
        problems.push(`${setting} closes "${ch}" at ${at(t)} without opening it - keep its brackets balanced`);
        unbalanced = true; // one bracket problem is enough; separators are still reported
      }
    }
  }
  const unclosed = open[0];
  if (!unbalanced && unclosed) problems.push(`${setting} leaves "${lexed.text[unclosed.start]}" at ${at(unclosed)} open - close it`);
  return problems;
}

/** The value a word or quoted identifier names, as the server would look it up (folded to lower case). */
export function nameOf(lexed: Lexed, t: Token): string {
  const raw = lexed.text.slice(t.start, t.end);
  if (t.kind !== 'quoted') return raw.toLowerCase();
  const quote = raw[0] as string;
  let name = raw.slice(1, t.unterminated ? undefined : -1).replaceAll(quote + quote, quote);
  if (t.unicode) name = decodePgUnicode(name, t.unicode);
  return name.toLowerCase();
}

function skipQuoted(text: string, start: number, quote: string, backslash: boolean, doubled: boolean): number {
  let j = start + 1;
  while (j < text.length) {
    const ch = text[j];
    if (backslash && ch === '\\') {
      j += 2;
    } else if (ch === quote) {
      if (!doubled || text[j + 1] !== quote) return j + 1;
      j += 2;
    } else {
      j++;
    }
  }
  return text.length + 1;
}

function skipBlockComment(text: string, start: number, nested: boolean): number {
  let depth = 0;
  let j = start;
  while (j < text.length) {
    if (text[j] === '/' && text[j + 1] === '*' && (nested || depth === 0)) {
      depth++;
      j += 2;
    } else if (text[j] === '*' && text[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return text.length + 1;
}

function lineEnd(text: string, start: number): number {
  const end = text.indexOf('\n', start);
  return end < 0 ? text.length : end + 1;
}

/** MySQL reads `--` as a comment only before whitespace or a control character: `1--1` is `1 - -1`. */
function isDashComment(text: string, at: number, rules: LexerRules): boolean {
  if (rules.dashComments === 'never') return false;
  if (rules.dashComments === 'always') return true;
  const after = text[at + 2];
  return after === undefined || after.charCodeAt(0) <= 32;
}

/** `E'…'` (PostgreSQL escape string) when the quote follows a lone E. */
function isEscapeStringPrefix(text: string, quoteAt: number): boolean {
  const prev = text[quoteAt - 1];
  return (prev === 'E' || prev === 'e') && !isIdentifierChar(text[quoteAt - 2]);
}

/** `U&"…"` (PostgreSQL identifier with Unicode escapes). */
function isUnicodePrefix(text: string, quoteAt: number): boolean {
  return text[quoteAt - 1] === '&' && /[uU]/.test(text[quoteAt - 2] ?? '') && !isIdentifierChar(text[quoteAt - 3]);
}

function decodePgUnicode(name: string, escape: string): string {
  let out = '';
  for (let j = 0; j < name.length; j++) {
    const ch = name[j] as string;
    if (ch !== escape) {
      out += ch;
    } else if (name[j + 1] === escape) {
      out += escape;
      j++;
    } else {
      const long = name[j + 1] === '+';
      const hex = name.slice(j + (long ? 2 : 1), j + (long ? 8 : 5));
      const code = /^[0-9a-fA-F]+$/.test(hex) ? parseInt(hex, 16) : NaN;
      if (Number.isNaN(code) || code > 0x10ffff) {
        out += ch;
      } else {
        out += String.fromCodePoint(code);
        j += long ? 7 : 4;
      }
    }
  }
  return out;
}

/** Java's rule, which Neo4j follows: `\uXXXX` is an escape unless its backslash is itself escaped. */
function decodeUnicodeEscapes(text: string): string {
  let out = '';
  let backslashes = 0;
  for (let j = 0; j < text.length;) {
    const ch = text[j] as string;
    if (ch === '\\' && backslashes % 2 === 0) {
      const m = /^\\u+([0-9a-fA-F]{4})/.exec(text.slice(j, j + 16));
      if (m) {
        out += String.fromCharCode(parseInt(m[1] as string, 16));
        j += m[0].length;
        backslashes = 0;
        continue;
      }
    }
    backslashes = ch === '\\' ? backslashes + 1 : 0;
    out += ch;
    j++;
  }
  return out;
}

function dollarTagAt(text: string, at: number): string | null {
  if (isIdentifierChar(text[at - 1])) return null;
  const m = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(text.slice(at, at + 64));
  return m ? m[0] : null;
}

function skipWord(text: string, start: number): number {
  let j = start;
  while (j < text.length && (isIdentifierChar(text[j]) || text[j] === '$')) j++;
  return j;
}

/**
 * ASCII letters, digits, `_`, and every other character that is not a space. A character some server reads
 * as part of a name and this lexer as a space only splits a word the server would not find anyway.
 */
function isIdentifierChar(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  const c = ch.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (c >= 128 && !isSpace(ch));
}

/** Every character one of the servers reads as a space (Cypher has the most: control separators, zero-width spaces). */
function isSpace(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c <= 32 || (c >= 128 && /[\s\u0085\u180e\u200b-\u200f\u2060\ufeff]/.test(ch));
}
