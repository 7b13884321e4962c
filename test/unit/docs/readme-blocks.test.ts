import { describe, expect, test } from 'vitest';
import { shellBlocks } from '../../helpers/readme-blocks';

describe('shellBlocks', () => {
  test('returns the sh blocks in order with their lines; other languages and plain fences are left out', () => {
    const md = [
      '# t',
      '```sh',
      'echo one',
      '```',
      '```json',
      '{"a":1}',
      '```',
      '```',
      'output',
      '```',
      '```sh',
      'echo two',
      'echo three',
      '```',
    ].join('\n');
    expect(shellBlocks(md)).toEqual([
      { line: 2, code: 'echo one', skip: null },
      { line: 11, code: 'echo two\necho three', skip: null },
    ]);
  });

  test('a skip comment on the line before a block marks it with its reason; a comment further up does not', () => {
    const md = [
      '<!-- readme-test: skip needs Docker -->',
      '```sh',
      'docker compose up',
      '```',
      '<!-- readme-test: skip far -->',
      '',
      '```sh',
      'echo',
      '```',
    ];
    expect(shellBlocks(md.join('\n')).map((b) => b.skip)).toEqual(['needs Docker', null]);
  });

  test('a fence inside a longer fence is content, and a block never closed is an error', () => {
    expect(shellBlocks(['````md', '```sh', 'not run', '```', '````'].join('\n'))).toEqual([]);
    expect(() => shellBlocks(['```sh', 'echo'].join('\n'))).toThrow(/line 1 is never closed/);
  });
});
