import { expect, test } from 'vitest';
import { progressBar } from '../../../src/cli/pull-command';

test('the sweeping block stays inside the bar on every tick, bounces at both ends, and fills when the run ends', () => {
  const starts: number[] = [];
  for (let tick = 0; tick < 500; tick++) {
    const bar = progressBar(tick, false);
    expect(bar, `tick ${tick}`).toMatch(/^\[ *### *\]$/);
    expect(bar).toHaveLength(22);
    starts.push(bar.indexOf('###') - 1);
  }
  expect(Math.min(...starts)).toBe(0);
  expect(Math.max(...starts)).toBe(17);
  for (let i = 1; i < starts.length; i++) expect(Math.abs(starts[i]! - starts[i - 1]!), `tick ${i}`).toBe(1);
  expect(progressBar(3, true)).toBe(`[${'#'.repeat(20)}]`);
});
