import { databaseUrlOf } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { EXIT } from './api-client';

export async function migrateCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log('qanatix migrate\n\nApplies the migrations not yet applied to DATABASE_URL.');
    return EXIT.ok;
  }
  // Migrations need the database alone: no secret the other commands need (API_KEY_SALT) is asked for.
  const pool = createPool(databaseUrlOf(), 1);
  try {
    const applied = await migrate(pool);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
