import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { EXIT } from './api-client';

export async function migrateCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log('qanatix migrate\n\nApplies the migrations not yet applied to DATABASE_URL.');
    return EXIT.ok;
  }
  const pool = createPool(loadConfig().databaseUrl, 1);
  try {
    const applied = await migrate(pool);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
