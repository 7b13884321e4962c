import { execFileSync } from 'node:child_process';
import { statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POINTER = `${ROOT}/dist/entry.txt`;
const build = () => execFileSync(process.execPath, ['bin/bundle.mjs'], { cwd: ROOT, encoding: 'utf8' }).trim();

test('the CLI bundle is reused while no source changed and rebuilt once one did', () => {
  const entry = build();
  const builtAt = statSync(POINTER).mtimeMs;
  expect(build()).toBe(entry);
  expect(statSync(POINTER).mtimeMs).toBe(builtAt);

  // A source saved after the build (same bytes: the rebuilt entry keeps its content-hashed name).
  const source = `${ROOT}/src/config.ts`;
  const later = new Date(builtAt + 1);
  utimesSync(source, later, later);
  expect(build()).toBe(entry);
  expect(statSync(POINTER).mtimeMs).toBeGreaterThan(builtAt);

  const help = execFileSync(process.execPath, ['bin/qanatix.mjs', '--help'], { cwd: ROOT, encoding: 'utf8' });
  expect(help).toContain('Usage: qanatix <command>');
});
