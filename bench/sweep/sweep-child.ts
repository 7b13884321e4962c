/**
 * One sweep in a process of its own, so its peak RSS is the sweep's alone.
 * Usage: node --import tsx bench/sweep/sweep-child.ts <platform-url> <connector-id> <run-id>
 * Prints `{ "ms": …, "maxRssBytes": …, "outcome": … }`.
 */
import { runPull } from '../../jobs/run-pull';
import { SecretBox } from '../../src/crypto/secret-box';
import { createPool } from '../../src/db/pool';
import { loadConnectorForRun } from '../../src/store/connectors';

const [url, connectorId, runId] = process.argv.slice(2) as [string, string, string];
const pool = createPool(url, 4);
const connector = await loadConnectorForRun(pool, SecretBox.fromEnv({}, true), connectorId);
if (!connector) throw new Error(`no connector ${connectorId}`);
const started = performance.now();
const outcome = await runPull({ pool, connector, runId, mode: 'sweep', signal: new AbortController().signal });
const ms = performance.now() - started;
await pool.end();
console.log(JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024, outcome }));
