/**
 * A tenant's JSON Schema runs its regular expressions against every record of its vertical, inside the API process
 * that serves every tenant. JavaScript cannot stop a regular expression once it runs, so one pattern that backtracks
 * without end (`^(a+)+$` against "aaaa…!") would hold that process for all of them. Each pattern is therefore
 * analysed when the schema is registered (recheck, off the event loop) and refused unless shown to run in linear time.
 */
import { check } from 'recheck';
import { ProblemType } from '../problem-types';
import type { RecordProblem } from './record';

/** Time the analysis of one pattern may take; a pattern it cannot clear within it is refused. */
const CHECK_TIMEOUT_MS = 2000;
/** Patterns one schema may hold, so that a registration is analysed in bounded time. */
export const MAX_SCHEMA_PATTERNS = 64;
/** Keywords whose values are data, not schemas: a "pattern" member inside them is not a regular expression. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

interface FoundPattern {
  loc: string[];
  pattern: string;
}

/** Keywords whose members are schemas keyed by a name the tenant chose ("enum", "pattern" are names there too). */
const NAMED_SCHEMAS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/** Every regular expression of a schema: `pattern` values and `patternProperties` names, with where they are. */
export function schemaPatterns(node: unknown, loc: string[] = [], named = false): FoundPattern[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => schemaPatterns(item, [...loc, String(i)]));
  if (typeof node !== 'object' || node === null) return [];
  const found: FoundPattern[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (named) {
      found.push(...schemaPatterns(value, [...loc, key]));
      continue;
    }
    if (DATA_KEYWORDS.has(key)) continue;
    if (key === 'pattern' && typeof value === 'string') found.push({ loc: [...loc, key], pattern: value });
    if (key === 'patternProperties' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const name of Object.keys(value)) found.push({ loc: [...loc, key, name], pattern: name });
    }
    found.push(...schemaPatterns(value, [...loc, key], NAMED_SCHEMAS.has(key)));
  }
  return found;
}

/** Why a pattern is refused, in words a schema author can act on; null when it runs in linear time. */
async function patternRisk(pattern: string): Promise<string | null> {
  const result = await check(pattern, 'u', { timeout: CHECK_TIMEOUT_MS });
  if (result.status === 'safe') return null;
  if (result.status === 'vulnerable') {
    const growth = result.complexity.type === 'exponential' ? 'exponentially' : `as the length to the power ${result.complexity.degree}`;
    const sample = JSON.stringify(result.attack.string.slice(0, 40));
    return (
      `this pattern can backtrack for a time that grows ${growth} with the text (try ${sample}…), which would stall ` +
      'ingestion for every tenant: remove the nested or overlapping repetition (e.g. (a+)+ → a+, (\\w|\\d)* → \\w*)'
    );
  }
  return result.error.kind === 'timeout'
    ? `this pattern could not be shown to run in linear time within ${CHECK_TIMEOUT_MS} ms: simplify it`
    : `this pattern could not be analysed (${'message' in result.error ? result.error.message : result.error.kind}): simplify it`;
}

/** Problems with the schema's regular expressions: too many of them, or one that may run for too long. */
export async function patternProblems(schema: unknown): Promise<RecordProblem[]> {
  const found = schemaPatterns(schema);
  if (found.length > MAX_SCHEMA_PATTERNS) {
    return [
      {
        loc: ['body', 'schema'],
        msg: `a schema may hold at most ${MAX_SCHEMA_PATTERNS} regular expressions (pattern, patternProperties); this one holds ${found.length}`,
        type: ProblemType.invalidSchema,
      },
    ];
  }
  const problems: RecordProblem[] = [];
  // One after another: the analysis runs off the event loop, and a registration is rare.
  for (const { loc, pattern } of found) {
    const risk = await patternRisk(pattern);
    if (risk) problems.push({ loc: ['body', 'schema', ...loc], msg: risk, type: ProblemType.invalidSchema });
  }
  return problems;
}
