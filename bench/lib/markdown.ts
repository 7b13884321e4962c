export type Align = 'left' | 'right';

/** A GitHub-flavoured Markdown table, padded so it also reads well as plain text in a terminal. */
export function markdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const body = rows.map((r) => headers.map((_, i) => cell(r[i] ?? '')));
  const head = headers.map(cell);
  const widths = head.map((h, i) => Math.max(3, h.length, ...body.map((r) => r[i]!.length)));
  const pad = (s: string, i: number) => (align[i] === 'right' ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}
