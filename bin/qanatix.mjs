#!/usr/bin/env node
// The qanatix CLI. Sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// Commands resolve when done (roles never do); open connections must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
