/**
 * The fenced `sh` blocks of a Markdown file, in order. A block preceded by the comment
 * `<!-- readme-test: skip <reason> -->` is not run by the README test, which reports it as skipped with the reason.
 */
export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** Why the README test does not run it, or null. */
  skip: string | null;
}

const SKIP = /^<!--\s*readme-test:\s*skip\s+(.+?)\s*-->$/;

export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})(\S*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!) && l.trim() === fence[1]);
    if (end < 0) throw new Error(`the code block at line ${i + 1} is never closed`);
    if (fence[2] === 'sh') {
      const skip = SKIP.exec((lines[i - 1] ?? '').trim());
      blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), skip: skip ? skip[1]! : null });
    }
    i = end;
  }
  return blocks;
}
