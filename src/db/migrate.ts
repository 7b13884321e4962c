import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { projectPath } from '../project-path';
import { withTransaction } from './pool';

const MIGRATIONS_DIR = projectPath('src/db/migrations');
// Any constant: every process that starts runs migrate(), and they must not race.
const MIGRATION_LOCK = 0x71616e61;

/** Applies the migrations not yet applied, in order, in one transaction. Returns their file names. */
export async function migrate(pool: pg.Pool): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  return withTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'create table if not exists schema_migrations (version int primary key, name text not null, applied_at timestamptz not null default now())',
    );
    const { rows } = await client.query<{ version: number }>('select version from schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (done.has(version)) continue;
      await client.query(await readFile(join(MIGRATIONS_DIR, file), 'utf8'));
      await client.query('insert into schema_migrations (version, name) values ($1, $2)', [version, file]);
      applied.push(file);
    }
    return applied;
  });
}
