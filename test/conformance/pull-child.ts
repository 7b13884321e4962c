/**
 * One pull in a process of its own, so the conformance suite can kill it for real (SIGKILL) mid-run.
 * Usage: node --import tsx test/conformance/pull-child.ts <platform-url> <connector-id> <run-id> <mode>
 */
import { runPull } from '../../jobs/run-pull';
import { SecretBox } from '../../src/crypto/secret-box';
import { createPool } from '../../src/db/pool';
import type { RunMode } from '../../src/store/connector-runs';
import { loadConnectorForRun } from '../../src/store/connectors';

const [url, connectorId, runId, mode] = process.argv.slice(2) as [string, string, string, RunMode];
const pool = createPool(url, 2);
const connector = await loadConnectorForRun(pool, SecretBox.fromEnv({}, true), connectorId);
if (!connector) throw new Error(`no connector ${connectorId}`);
const outcome = await runPull({ pool, connector, runId, mode, signal: new AbortController().signal });
await pool.end();
console.log(JSON.stringify(outcome));
