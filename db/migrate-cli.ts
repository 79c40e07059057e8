import { loadConfigOrExit } from '../config';
import { migrate } from './migrate';
import { createPool } from './pool';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const pool = createPool({ connectionString: config.DATABASE_URL, max: 2 });
  try {
    const { applied } = await migrate(pool);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`error: migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
