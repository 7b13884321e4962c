import type { ProblemType } from '../src/problem-types';
import { ConnectorError } from './connector-error';

/** One problem in a connector definition: where (`['cursor', 'column']`), what, and a stable type. */
export interface ConfigIssue {
  loc: string[];
  msg: string;
  type: (typeof ProblemType)['settingMissing' | 'settingType' | 'settingValue' | 'settingConflict' | 'unknownSetting'];
}

/** A connector definition that cannot be used; `issues` lists every problem found, not just the first. */
export class ConfigError extends ConnectorError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('config', `invalid connector config: ${issues.map(formatIssue).join('; ')}`);
    this.name = 'ConfigError';
    Object.setPrototypeOf(this, new.target.prototype);
    this.issues = issues;
  }
}

function formatIssue(issue: ConfigIssue): string {
  return issue.loc.length ? `${issue.loc.join('.')}: ${issue.msg}` : issue.msg;
}

/** Issues reported for one setting at most: text built to produce thousands gets the first few. */
export const MAX_ISSUES_PER_SETTING = 10;

/** How a validator reports an issue; `loc` is relative to the part being validated. */
export type IssueReporter = (loc: string[], msg: string, type?: ConfigIssue['type']) => void;
