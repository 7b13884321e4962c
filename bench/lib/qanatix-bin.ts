import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI, run the way it is deployed: `./bin/qanatix.mjs` and the Docker image both go through its shebang. */
export const BIN = fileURLToPath(new URL('../../bin/qanatix.mjs', import.meta.url));

/** The node flags of the CLI's shebang (`#!/usr/bin/env -S node --flag …`), to pass when spawning it with node. */
export const BIN_NODE_FLAGS: string[] = readFileSync(BIN, 'utf8')
  .split('\n', 1)[0]!
  .split(/\s+/)
  .filter((w) => w.startsWith('--'));
