import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { withTransaction, type Pool, type Queryable } from './pool';

export const migrationsDir = path.resolve(__dirname, '..', 'migrations');
const MIGRATION_LOCK_KEY = 7_233_001; // any constant; serialises concurrent migrators across processes

interface Migration {
  id: number;
  name: string;
  file: string;
}

export async function listMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return files.map((file) => {
    const match = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file ${file} must be named NNN_name.sql`);
    return { id: Number(match[1]), name: match[2]!, file: path.join(dir, file) };
  });
}

async function ensureMigrationsTable(db: Queryable): Promise<void> {
  await db.query(`create table if not exists schema_migrations (
    id integer primary key, name text not null, applied_at timestamptz not null default now())`);
}

async function appliedMigrationIds(db: Queryable): Promise<Set<number>> {
  const { rows } = await db.query<{ id: number }>('select id from schema_migrations');
  return new Set(rows.map((r) => r.id));
}

/** Applies pending migrations, each in its own transaction. Safe to run again and from several processes. */
export async function migrate(pool: Pool, dir = migrationsDir): Promise<{ applied: string[] }> {
  const migrations = await listMigrations(dir);
  const lockClient = await pool.connect();
  const applied: string[] = [];
  try {
    await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await ensureMigrationsTable(lockClient);
    const done = await appliedMigrationIds(lockClient);
    for (const migration of migrations) {
      if (done.has(migration.id)) continue;
      const sql = await readFile(migration.file, 'utf8');
      await withTransaction(pool, async (tx) => {
        await tx.query(sql);
        await tx.query('insert into schema_migrations (id, name) values ($1, $2)', [migration.id, migration.name]);
      });
      applied.push(`${String(migration.id).padStart(3, '0')}_${migration.name}`);
    }
  } finally {
    await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    lockClient.release();
  }
  return { applied };
}
