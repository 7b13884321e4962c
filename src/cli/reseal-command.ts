import { databaseUrlOf, isDev } from '../config';
import { SecretBox } from '../crypto/secret-box';
import { createPool } from '../db/pool';
import { resealConnectionConfigs } from '../store/connectors';
import { EXIT } from './api-client';

export const RESEAL_HELP = `qanatix reseal

Seals every stored connection config again with the first key of QANATIX_ENCRYPTION_KEYS (talks to DATABASE_URL).
Rotate a key in three steps: put the new key first (k2:<new>,k1:<old>) and restart the processes; run
qanatix reseal; when it reports nothing left under k1, drop k1 from QANATIX_ENCRYPTION_KEYS and restart again.`;

export async function resealCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(RESEAL_HELP);
    return EXIT.ok;
  }
  const box = SecretBox.fromEnv(process.env, isDev());
  const pool = createPool(databaseUrlOf(), 1);
  try {
    const r = await resealConnectionConfigs(pool, box);
    console.log(`re-sealed ${r.resealed} connection config(s) with key "${box.sealingKeyId}"; ${r.current} already were`);
    for (const m of r.missingKey)
      console.error(`connector ${m.connectorId}: sealed with key "${m.keyId}", which is not in QANATIX_ENCRYPTION_KEYS`);
    return r.missingKey.length ? EXIT.failed : EXIT.ok;
  } finally {
    await pool.end();
  }
}
