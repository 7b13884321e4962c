/**
 * What a Neo4j connector refuses in `query` and `where`.
 *
 * Writes need no list: every statement runs in a READ access mode transaction, and the text is planned first
 * (EXPLAIN) and refused unless Neo4j calls it a read (query type "r"), which also turns away procedures that
 * write or act on the DBMS, however they are spelled. What Neo4j counts as a read but reaches beyond the graph
 * is refused twice: by keyword in the text (`neo4jReadOnlyIssues`, at validation and before every read) and
 * by operator in the plan (`planProblems`): LOAD CSV (server files and URLs), CALL … IN TRANSACTIONS (commits
 * of its own), SHOW and TERMINATE commands (settings, users, other sessions' transactions), and USE of
 * another database. Neo4j decodes `\uXXXX` escapes anywhere in the text before reading it; so does the lexer.
 */
import { ProblemType } from '../../src/problem-types';
import { MAX_ISSUES_PER_SETTING, type ConfigIssue } from '../config-error';
import type { ConnectorDefinition } from '../connector-definition';
import { ConnectorError } from '../connector-error';
import { codeTokens, lex, nameOf, statementProblems, type LexerRules } from '../sql/sql-lexer';

export const cypherLexer: LexerRules = {
  backslashInSingle: true,
  backslashInDouble: true,
  escapeStrings: false,
  doubledQuotes: false,
  doubleQuotes: 'string',
  backticks: true,
  dollarQuotes: false,
  nestedComments: false,
  dashComments: 'never',
  hashComments: false,
  slashComments: true,
  executableComments: false,
  unicodeEscapes: true,
  placeholders: false,
};

const REFUSED_WORDS: ReadonlyMap<string, string> = new Map([
  ['load', 'LOAD CSV reads files and URLs through the server'],
  ['use', 'USE reads another database than connection_config.database'],
  ['transactions', 'CALL { … } IN TRANSACTIONS commits transactions of its own'],
  ['show', "SHOW commands read the server's settings, users and transactions"],
  ['terminate', "TERMINATE ends other sessions' transactions"],
  ['explain', 'the connector plans the query itself'],
  ['profile', 'the connector plans the query itself'],
]);

/** Plan operators of reads that reach beyond the graph. */
const REFUSED_OPERATORS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^LoadCSV$/, 'LOAD CSV reads files and URLs through the server'],
  [/^Transaction(Apply|Foreach)$/, 'CALL { … } IN TRANSACTIONS commits transactions of its own'],
  [/^(Show|Terminate)/, "SHOW and TERMINATE commands reach the server's settings, users and other sessions"],
  [/^AdministrationCommand$/, 'administration commands act on the DBMS'],
];

export function neo4jReadOnlyIssues(def: Pick<ConnectorDefinition, 'query' | 'where'>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const setting of ['query', 'where'] as const) {
    const text = def[setting];
    if (typeof text !== 'string') continue;
    for (const msg of cypherProblems(text, setting)) issues.push({ loc: [setting], msg, type: ProblemType.settingValue });
  }
  return issues;
}

function cypherProblems(text: string, setting: string): string[] {
  const lexed = lex(text, cypherLexer);
  const problems = statementProblems(lexed, setting);
  const code = codeTokens(lexed.tokens);
  const punct = (i: number, ch: string) => code[i]?.kind === 'punct' && lexed.text[code[i]!.start] === ch;
  code.forEach((t, i) => {
    // A property (`n.load`), a map key or label position (`{use: 1}`, `(load:Truck)`), a variable (`load.x`): not a clause.
    if (t.kind !== 'word' || punct(i - 1, '.') || punct(i + 1, ':') || punct(i + 1, '.')) return;
    const reason = REFUSED_WORDS.get(nameOf(lexed, t));
    if (reason) {
      problems.push(
        `the connector only reads the graph: ${reason} - remove ${JSON.stringify(lexed.text.slice(t.start, t.end))} from ${setting} (a name spelled like it goes in backticks)`,
      );
    }
  });
  return [...new Set(problems)].slice(0, MAX_ISSUES_PER_SETTING);
}

/** What EXPLAIN says about a statement: its query type, the operators of its plan, the database it runs on. */
export interface Neo4jPlan {
  queryType: string | undefined;
  operators: string[];
  database: string | undefined;
}

/** A plan node as the driver reports it (`LoadCSV@neo4j`). */
interface PlanNode {
  operatorType: string;
  children: PlanNode[];
}

/** The plan of a result summary: query type, operator names without their runtime suffix, database. */
export function planOf(summary: { queryType?: string; plan: PlanNode | false; database: { name?: string | null } }): Neo4jPlan {
  const operators: string[] = [];
  const stack = summary.plan ? [summary.plan] : [];
  for (let node = stack.pop(); node; node = stack.pop()) {
    operators.push(node.operatorType.replace(/@.*$/, ''));
    stack.push(...node.children);
  }
  return { queryType: summary.queryType, operators, database: summary.database.name ?? undefined };
}

/** Throws `permission` unless the plan only reads the graph of `database`. */
export function checkPlan(plan: Neo4jPlan, database: string | undefined, setting: string): void {
  if (plan.queryType !== undefined && plan.queryType !== 'r') {
    throw new ConnectorError(
      'permission',
      `the connector only reads, and this ${setting} writes (Neo4j plans it as query type "${plan.queryType}") - ${setting} takes read-only Cypher`,
    );
  }
  for (const operator of plan.operators) {
    const refused = REFUSED_OPERATORS.find(([pattern]) => pattern.test(operator));
    if (refused)
      throw new ConnectorError(
        'permission',
        `the connector only reads the graph, and Neo4j plans this ${setting} with ${operator}: ${refused[1]} - remove it`,
      );
  }
  if (database !== undefined && plan.database !== undefined && plan.database !== database) {
    throw new ConnectorError(
      'permission',
      `the connector only reads database "${database}", and this ${setting} runs on "${plan.database}" - remove USE`,
    );
  }
}
