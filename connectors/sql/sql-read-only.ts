/**
 * What a SQL source's `query` and `where` may say, checked at validation and again before every read: one
 * statement that starts like a read, nothing left open to escape the text it is wrapped in, and no function
 * that acts beyond a read-only transaction, whichever way the server lexes the text. Behind this check the
 * database refuses writes by itself: every statement runs in a READ ONLY transaction of a read-only session,
 * one statement per protocol message (see postgresql-session.ts, mysql-session.ts).
 */
import { ProblemType } from '../../src/problem-types';
import { MAX_ISSUES_PER_SETTING, type ConfigIssue } from '../config-error';
import type { ConnectorDefinition } from '../connector-definition';
import { codeTokens, lex, nameOf, statementProblems, type LexerRules } from './sql-lexer';

export interface SqlReadOnlyRules {
  /** Every way the server may lex the text (MySQL's sql_mode changes it); the text must pass each. */
  lexings: readonly LexerRules[];
  /** The words a query may start with. */
  starts: readonly string[];
  /** Functions refused anywhere: a name, or a prefix ending in `*`, and why. */
  functions: ReadonlyArray<readonly [pattern: string, reason: string]>;
  /** Keywords refused anywhere outside literals and comments, and why. */
  words: ReadonlyArray<readonly [word: string, reason: string]>;
}

/** The problems of a definition's `query` and `where` text, as config issues. */
export function sqlReadOnlyIssues(def: Pick<ConnectorDefinition, 'query' | 'where'>, rules: SqlReadOnlyRules): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const setting of ['query', 'where'] as const) {
    const text = def[setting];
    if (typeof text !== 'string') continue;
    for (const msg of sqlTextProblems(text, setting, rules)) issues.push({ loc: [setting], msg, type: ProblemType.settingValue });
  }
  return issues;
}

export function sqlTextProblems(text: string, setting: 'query' | 'where', rules: SqlReadOnlyRules): string[] {
  const problems = new Set<string>();
  for (const lexing of rules.lexings) {
    const lexed = lex(text, lexing);
    const structural = statementProblems(lexed, setting);
    for (const p of structural) problems.add(p);
    if (structural.length) continue;
    const code = codeTokens(lexed.tokens);
    if (setting === 'query') {
      const first = code.find((t) => !(t.kind === 'punct' && lexed.text[t.start] === '('));
      if (first?.kind !== 'word' || !rules.starts.includes(nameOf(lexed, first))) {
        const found = first ? `this one starts with ${JSON.stringify(lexed.text.slice(first.start, first.end))}` : 'this one is empty';
        const starts = rules.starts.map((s) => s.toUpperCase());
        problems.add(
          `the connector only reads: query must be one ${starts.slice(0, -1).join(', ')} or ${starts.at(-1)} statement, and ${found}`,
        );
      }
    }
    code.forEach((t, i) => {
      if (t.kind !== 'word' && t.kind !== 'quoted') return;
      const name = nameOf(lexed, t);
      // A call's `(` follows the name, or the `UESCAPE 'c'` clause of a U&"…" name.
      const next = t.unicode && code[i + 1]?.kind === 'word' && nameOf(lexed, code[i + 1]!) === 'uescape' ? code[i + 3] : code[i + 1];
      if (next?.kind === 'punct' && lexed.text[next.start] === '(') {
        const refused = rules.functions.find(([pattern]) =>
          pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern,
        );
        if (refused) problems.add(`the connector only reads: ${name}() is refused because it ${refused[1]} - remove it from ${setting}`);
      }
      const word = t.kind === 'word' ? rules.words.find(([w]) => w === name) : undefined;
      if (word)
        problems.add(`the connector only reads: ${name.toUpperCase()} is refused because it ${word[1]} - remove it from ${setting}`);
    });
  }
  return [...problems].slice(0, MAX_ISSUES_PER_SETTING);
}
