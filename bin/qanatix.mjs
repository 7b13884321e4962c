#!/usr/bin/env node
// The qanatix CLI: runs the bundle of the TypeScript sources (bin/bundle.mjs rebuilds it when a source changed).
import { bundleEntry } from './bundle.mjs';

const { main } = await import(await bundleEntry());
// Commands resolve when done (roles never do); open connections must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
