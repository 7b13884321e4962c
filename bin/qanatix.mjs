#!/usr/bin/env -S node --max-semi-space-size=16
// The qanatix CLI: runs the bundle of the TypeScript sources (bin/bundle.mjs rebuilds it when a source changed).
import v8 from 'node:v8';
import { bundleEntry } from './bundle.mjs';

// The shebang caps each young-generation semi-space at 16 MiB: under a first load's allocation rate V8 grows it to
// 64 MiB, which put a worker's peak RSS at 317 MiB instead of 216 MiB for no gain in speed (bench/peers). A node
// flag, since V8 sizes the young generation once, at start; `node bin/qanatix.mjs` runs without it.
// Grow the heap by at most 2× its live size between full collections. A pull keeps two batches alive but
// allocates many times that in passing; V8's default growth let a worker's RSS reach ~250 MiB for no gain in
// speed, and --optimize-for-size halved it but doubled the CPU time (bench/pull).
v8.setFlagsFromString('--heap-growing-percent=100');

const { main } = await import(await bundleEntry());
// Commands resolve when done (roles never do); open connections must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
