import pg from 'pg';

// bigint (int8) columns hold cents; parse them as JS numbers, guarding against precision loss.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 ${value} exceeds Number.MAX_SAFE_INTEGER`);
  return n;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PoolOptions {
  connectionString: string;
  max?: number;
  /** Server-side statement_timeout, and a client-side read deadline a little after it (a frozen server answers nothing). */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export function createPool({ connectionString, max = 10, queryTimeoutMs, connectTimeoutMs = 5_000 }: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: connectTimeoutMs,
    ...(queryTimeoutMs ? { statement_timeout: queryTimeoutMs, query_timeout: queryTimeoutMs + 2_000 } : {}),
  });
  // A server restart errors every connection, idle or checked out. Without a listener on each client, an
  // 'error' emitted between two queries of a transaction would crash the process; the query in flight
  // rejects on its own, and withTransaction discards the broken client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in one transaction on a single client; rolls back on any error. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    // A client whose rollback failed is in an unknown state: destroy it rather than hand it out again.
    client.release(broken);
  }
}
