/**
 * What a MongoDB connector refuses: operators that run JavaScript on the server or write, anywhere in a filter
 * document (`query`, `where`: inside `$and`/`$or`/`$nor`, `$elemMatch`, `$expr`, arrays, at any depth), and
 * field names that would read as operators. The connector only sends `find`, so a filter cannot write by
 * itself; `$where`, `$function` and `$accumulator` would still run code, and `$out`/`$merge` have no place in
 * a filter. Checked at validation on the JSON as written and again before reading on the decoded filter,
 * where Extended JSON such as `{"$code": …}` has become a BSON value. MongoDB matches operator names exactly,
 * so `"$Where"` or `" $where"` are not operators (the server refuses them as unknown).
 */
import { ProblemType } from '../../src/problem-types';
import { MAX_ISSUES_PER_SETTING, type ConfigIssue } from '../config-error';
import type { ConnectorDefinition } from '../connector-definition';

const REFUSED: ReadonlyMap<string, string> = new Map([
  ['$where', 'runs JavaScript on the server'],
  ['$function', 'runs JavaScript on the server'],
  ['$accumulator', 'runs JavaScript on the server'],
  ['$code', 'is JavaScript code'],
  ['$out', 'writes a collection'],
  ['$merge', 'writes a collection'],
]);

export function mongodbReadOnlyIssues(
  def: Pick<ConnectorDefinition, 'query' | 'where' | 'table' | 'cursor' | 'primary_key' | 'columns'>,
): ConfigIssue[] {
  const setting = def.table !== null ? 'where' : 'query';
  let filter: unknown = def.table !== null ? def.where : def.query;
  if (typeof filter === 'string') {
    try {
      filter = JSON.parse(filter);
    } catch {
      filter = null; // the connector reports a filter that does not parse
    }
  }
  const issues = filterIssues(filter, setting);
  const names: Array<[string[], string | null | undefined]> = [
    [['cursor', 'column'], def.cursor?.column],
    ...(def.cursor?.tiebreaker ?? []).map((n): [string[], string] => [['cursor', 'tiebreaker'], n]),
    ...(def.primary_key ?? []).map((n): [string[], string] => [['primary_key'], n]),
    ...(def.columns ?? []).map((n): [string[], string] => [['columns'], n]),
  ];
  for (const [loc, name] of names) {
    if (typeof name === 'string' && name.startsWith('$')) {
      issues.push({
        loc,
        msg: `the connector only reads fields, and "${name}" starts with "$", which makes it an operator in a filter - name a field`,
        type: ProblemType.settingValue,
      });
    }
  }
  return issues;
}

/** A place in a filter: its key and the place that holds it (paths are built only for what is refused). */
interface Place {
  key: string;
  parent: Place | null;
}

function pathOf(place: Place): string[] {
  const path: string[] = [];
  for (let p: Place | null = place; p; p = p.parent) path.push(p.key);
  return path.reverse();
}

/** Refused operators and code values in a filter (raw JSON or decoded BSON), each at its path. */
export function filterIssues(filter: unknown, setting: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Iterative, and linear in the size of the filter: one nested ten thousands of levels deep is checked too.
  const stack: Array<[unknown, Place]> = [[filter, { key: setting, parent: null }]];
  while (stack.length && issues.length < MAX_ISSUES_PER_SETTING) {
    const [value, place] = stack.pop() as [unknown, Place];
    if (value === null || typeof value !== 'object') continue;
    if ((value as { _bsontype?: unknown })._bsontype === 'Code') {
      issues.push({
        loc: pathOf(place),
        msg: 'the connector only reads: JavaScript code is refused in a filter - compare with plain values',
        type: ProblemType.settingValue,
      });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push([v, { key: String(i), parent: place }]));
      continue;
    }
    if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) continue;
    for (const [key, v] of Object.entries(value)) {
      const reason = REFUSED.get(key);
      const at = { key, parent: place };
      if (reason)
        issues.push({
          loc: pathOf(at),
          msg: `the connector only reads: ${key} is refused because it ${reason} - write the filter with query operators`,
          type: ProblemType.settingValue,
        });
      else stack.push([v, at]);
    }
  }
  return issues;
}
