import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectPath } from '../../src/project-path';

/** The TypeScript files under `dir`, as paths from the project root, with their text. */
function sources(dir: string): Array<{ path: string; text: string }> {
  return readdirSync(projectPath(dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => {
      const file = join(e.parentPath, e.name);
      return { path: relative(projectPath(), file), text: readFileSync(file, 'utf8') };
    });
}

/** The text without its comments: a comment may speak of a table or of an update. */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

describe('who runs which statements', () => {
  test('jobs/ runs no SQL of its own: every statement is in src/store, src/db or the ingestion core', () => {
    const files = sources('jobs');
    expect(files.length).toBeGreaterThan(5);
    const offenders = files.filter((f) =>
      /\.query\s*[<(]|\b(select|insert\s+into|update|delete\s+from)\s+[a-z_]+[\s(]/i.test(code(f.text)),
    );
    expect(offenders.map((f) => f.path)).toEqual([]);
  });

  test('connector_runs and connector_state are named only by src/store', () => {
    const offenders = [...sources('src'), ...sources('jobs'), ...sources('connectors')]
      .filter((f) => !f.path.startsWith(join('src', 'store')))
      .filter((f) => /\bconnector_(runs|state)\b/.test(code(f.text)));
    expect(offenders.map((f) => f.path)).toEqual([]);
  });
});
