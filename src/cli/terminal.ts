/**
 * What the CLI prints carries text a tenant or a source controls (rows in a preview, source error messages, names).
 * A terminal obeys the control characters in it: escape sequences that rewrite the screen, set the window title or
 * write the clipboard, a carriage return that prints over a line, bidirectional overrides that make text read as
 * something else. So every string the CLI writes passes `terminalSafe`, and the few sequences the CLI means (a
 * progress line redrawn, a screen cleared, bold) go through `writeControl`, which alone writes them as they are.
 */

/** C0 and C1 controls except line feed and tab, and the bidirectional overrides and isolates. */
const UNSAFE = /(?![\n\t])[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

/** The text with each unsafe character written as its `\uXXXX` escape: visible, and inside JSON the same value. */
export const terminalSafe = (text: string): string => text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

type Write = NodeJS.WriteStream['write'];
const unguarded = new Map<NodeJS.WriteStream, Write>();

/** From now on, strings written to stdout and stderr (console.log and console.error too) pass `terminalSafe`. */
export function guardOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (unguarded.has(stream)) continue;
    const write = stream.write.bind(stream) as Write;
    unguarded.set(stream, write);
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      (write as (c: unknown, ...r: unknown[]) => boolean)(typeof chunk === 'string' ? terminalSafe(chunk) : chunk, ...rest)) as Write;
  }
}

/** Terminal sequences the CLI itself means, written as they are. */
export const CONTROL = { redrawLine: '\r\x1b[2K', clearScreen: '\x1b[2J\x1b[H', bold: '\x1b[1m', plain: '\x1b[0m' } as const;

/** Writes one of the CLI's own sequences (`CONTROL`), then `text` through the guard. */
export function writeControl(stream: NodeJS.WriteStream, sequence: (typeof CONTROL)[keyof typeof CONTROL], text = ''): void {
  (unguarded.get(stream) ?? stream.write.bind(stream))(sequence);
  if (text) stream.write(text);
}
