/** A database of its own on the stack's PostgreSQL, so the references never touch the service's rows (or its outbox relay). */
import { upsertInventoryAvailable } from '../../../db/inventory';
import { migrate } from '../../../db/migrate';
import { createPool, type Pool } from '../../../db/pool';
import type { Workload } from './workload';

export async function createReferenceDatabase(stackDatabaseUrl: string, name: string): Promise<{ url: string; pool: Pool }> {
  const admin = createPool({ connectionString: stackDatabaseUrl, max: 1 });
  try {
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = stackDatabaseUrl.replace(/\/[^/]+$/, `/${name}`);
  const pool = createPool({ connectionString: url, max: 8, queryTimeoutMs: 30_000 });
  await migrate(pool);
  return { url, pool };
}

/** The workload's accounts and SKUs, straight in SQL (the service's own are seeded through its API). */
export async function seedReference(pool: Pool, workload: Workload, balanceCents: number, stock: number): Promise<void> {
  for (const id of workload.accounts) {
    await pool.query(`insert into accounts (id, opening_balance_cents, balance_cents) values ($1, $2, $2) on conflict (id) do nothing`, [id, balanceCents]);
  }
  for (const sku of workload.skus) await upsertInventoryAvailable(pool, { sku, available: stock });
}
