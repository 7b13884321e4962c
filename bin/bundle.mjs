// The CLI runs from a bundle of the TypeScript sources in dist/, built here with esbuild when it is missing
// or older than any source. Each lazily imported module (a connector's driver, the HTTP stack, a command)
// becomes its own chunk, so a process loads only what its role uses, and no compiler runs inside it.
//
//   node bin/bundle.mjs        build now if stale (npm run build); prints the entry file
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DIST = join(ROOT, 'dist');
// The current entry's file name; written last, so a reader never sees a half-written build.
const POINTER = join(DIST, 'entry.txt');
const INPUTS = ['src', 'connectors', 'jobs', 'package-lock.json', 'tsconfig.json', 'bin/bundle.mjs'];
// Outputs of earlier builds a long-running process may still lazily import; removed after a week.
const KEEP_OLD_MS = 7 * 24 * 3600_000;

function newestInput(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file shows as its folder's change
  for (const name of readdirSync(path)) newest = Math.max(newest, newestInput(join(path, name)));
  return newest;
}

function writeAtomically(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** The absolute path of the current bundle's entry, building it first when a source is newer. */
export async function bundleEntry() {
  const built = statSync(POINTER, { throwIfNoEntry: false });
  if (built && built.mtimeMs >= Math.max(...INPUTS.map((p) => newestInput(join(ROOT, p))))) {
    return join(DIST, readFileSync(POINTER, 'utf8').trim());
  }
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: 'src/cli/main.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: DIST,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(DIST, { recursive: true });
  // Content-hashed names: a file of the same name already holds the same bytes.
  const current = new Set(['entry.txt']);
  let entry = '';
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    current.add(name);
    if (name.startsWith('main-')) entry = name;
    if (!existsSync(file.path)) writeAtomically(file.path, file.contents);
  }
  writeAtomically(POINTER, entry + '\n');
  for (const name of readdirSync(DIST)) {
    const path = join(DIST, name);
    if (!current.has(name) && Date.now() - statSync(path).mtimeMs > KEEP_OLD_MS) rmSync(path, { force: true });
  }
  return join(DIST, entry);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.log(await bundleEntry());
