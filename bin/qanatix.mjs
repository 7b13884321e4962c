#!/usr/bin/env -S node --max-semi-space-size=8
// The qanatix CLI: runs the bundle of the TypeScript sources (bin/bundle.mjs rebuilds it when a source changed).
import v8 from 'node:v8';
import { bundleEntry } from './bundle.mjs';

// The shebang caps each young-generation semi-space at 8 MiB: uncapped, V8 grows it to 64 MiB under a first load's
// allocation rate, which put a worker's peak RSS at 317 MiB for no gain in speed (bench/peers). A node flag, since V8
// sizes the young generation once, at start; `node bin/qanatix.mjs` runs without it.
// Grow the heap by at most 3× its live size between full collections. A pull keeps a few batches alive (a few tens of
// MiB) and allocates many times that in passing: grown by at most 2×, a first load of 1M rows ran 70 full collections and
// a third of the worker's CPU went to the collector; by 3× or 4× (with the 8 MiB cap), 14-23, and half a core instead of
// 0.63, for a peak RSS of 240-258 MiB at 4× and 210-230 at 2× (bench/peers, 2 cores).
v8.setFlagsFromString('--heap-growing-percent=200');

const { main } = await import(await bundleEntry());
// Commands resolve when done (roles never do); open connections must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
