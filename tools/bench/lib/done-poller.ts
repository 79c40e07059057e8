/**
 * Watches outstanding IDs with one query every 10 ms for all of them (not one request per order), and
 * resolves each waiter with the time of the poll that first saw it done. The resolution is the poll
 * period: a latency read this way is at most 10 ms late (plus the query).
 */
import type { Pool } from '../../../db/pool';

export type DoneState = 'done' | 'failed';

/** Returns the IDs among `ids` that are finished, each with its outcome. */
export type DoneQuery = (pool: Pool, ids: string[]) => Promise<{ id: string; state: DoneState }[]>;

interface Waiter {
  resolve: (at: number) => void;
  reject: (err: Error) => void;
}

export class DonePoller {
  private readonly waiting = new Map<string, Waiter>();
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly pool: Pool,
    private readonly query: DoneQuery,
    private readonly periodMs = 10,
  ) {}

  /** Resolves with performance.now() of the poll that saw `id` done; rejects if it ended another way. */
  wait(id: string): Promise<number> {
    this.timer ??= setInterval(() => void this.poll(), this.periodMs);
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  get outstanding(): number {
    return this.waiting.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const [id, w] of this.waiting) w.reject(new Error(`${id}: stopped waiting`));
    this.waiting.clear();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.waiting.size === 0) return;
    this.polling = true;
    const at = performance.now();
    try {
      for (const { id, state } of await this.query(this.pool, [...this.waiting.keys()])) {
        const waiter = this.waiting.get(id);
        if (!waiter) continue;
        this.waiting.delete(id);
        if (state === 'done') waiter.resolve(at);
        else waiter.reject(new Error(`${id} ended ${state}`));
      }
    } catch {
      // a restarting database: the next poll asks again
    } finally {
      this.polling = false;
    }
  }
}

/** Orders that reached CONFIRMED (the service's end) or CANCELLED (a failure in a benchmark). */
export const orderEnded: DoneQuery = async (pool, ids) => {
  const { rows } = await pool.query<{ id: string; status: string }>(`select id, status from orders where id = any($1) and status <> 'PENDING'`, [ids]);
  return rows.map((r) => ({ id: r.id, state: r.status === 'CONFIRMED' ? 'done' : 'failed' }));
};

/** Messages whose workflow start Temporal acknowledged (the intake's end). */
export const startAcknowledged: DoneQuery = async (pool, ids) => {
  const { rows } = await pool.query<{ id: string }>(`select message_id as id from processed_messages where message_id = any($1) and run_id is not null`, [ids]);
  return rows.map((r) => ({ id: r.id, state: 'done' }));
};
