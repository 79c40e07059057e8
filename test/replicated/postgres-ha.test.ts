import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultHaTiming, readHaToolchain, startPostgresHa, type HaMember, type PostgresHa } from '../../tools/stack/postgres-ha';
import { repoRoot } from '../../tools/stack/servers';
import { freePort } from '../global-setup';

/**
 * Writes one row per transaction, in a loop, through the one stable address, and keeps what happened to each:
 * acknowledged (COMMIT answered), failed before COMMIT (so certainly not committed), or in doubt (COMMIT sent, no
 * answer: the connection died under it, so it may or may not have committed).
 */
class Writer {
  readonly acked = new Set<number>();
  readonly failed = new Set<number>();
  readonly inDoubt = new Set<number>();
  readonly ackTimes: number[] = [];
  readonly errors = new Map<string, number>();
  private next: number;
  private stopped = false;
  private client: pg.Client | undefined;
  private done: Promise<void> = Promise.resolve();

  /** Ids start at firstId, so two writers never collide on the primary key. */
  constructor(
    private readonly url: string,
    firstId: number,
  ) {
    this.next = firstId;
  }

  start(): void {
    this.stopped = false;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await this.drop();
  }

  /**
   * When writes came back after a fault at `since`: the acknowledgement that ends the longest pause between two of
   * them (an acknowledgement a moment after the kill is a write already in flight, not the new primary), in ms after it.
   */
  writesBackAfter(since: number): number {
    let end = since;
    let longest = 0;
    this.ackTimes.forEach((at, i) => {
      const gap = at - (this.ackTimes[i - 1] ?? at);
      if (at > since && gap > longest) [longest, end] = [gap, at];
    });
    return end - since;
  }

  async acksAfter(since: number, count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ackTimes.filter((t) => t > since).length < count) {
      if (Date.now() > deadline) throw new Error(`fewer than ${count} writes acknowledged within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) await this.write(this.next++);
  }

  private async write(id: number): Promise<void> {
    let stage: 'connect' | 'begin' | 'insert' | 'commit' = 'connect';
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2_000, query_timeout: 15_000 });
        client.on('error', () => undefined); // a dead connection is seen by the next query
        this.client = client;
        await client.connect();
      }
      stage = 'begin';
      await this.client.query('begin');
      stage = 'insert';
      await this.client.query('insert into ha_writes (id) values ($1)', [id]);
      stage = 'commit';
      await this.client.query('commit');
      this.acked.add(id);
      this.ackTimes.push(Date.now());
    } catch (err) {
      (stage === 'commit' ? this.inDoubt : this.failed).add(id);
      const why = `${stage}: ${err instanceof Error ? err.message : String(err)}`;
      this.errors.set(why, (this.errors.get(why) ?? 0) + 1);
      await this.drop();
      await sleep(50);
    }
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await Promise.race([client?.end().catch(() => undefined), sleep(1_000)]);
  }
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const running = (m: HaMember | undefined) => !!m && ['running', 'streaming'].includes(m.state);

describe('PostgreSQL with failover: Patroni, etcd and HAProxy', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-ha-'));
  chmodSync(dir, 0o755); // Patroni runs as the postgres user, which must reach its node folders
  let ha: PostgresHa;

  beforeAll(async () => {
    const started = Date.now();
    ha = await startPostgresHa({
      ...readHaToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack')),
      stateDir: path.join(dir, 'state'),
      logDir: path.join(dir, 'logs'),
      port: await freePort(),
      etcdClientPort: await freePort(),
      etcdPeerPort: await freePort(),
      nodes: [
        { pgPort: await freePort(), restPort: await freePort() },
        { pgPort: await freePort(), restPort: await freePort() },
      ],
    });
    console.log(`cluster up in ${Date.now() - started} ms; logs in ${path.join(dir, 'logs')}`);
    await query(ha.url, 'create table ha_writes (id int primary key, at timestamptz not null default now())');
  }, 150_000);

  let keep = false;
  afterEach((context) => {
    keep ||= context.task.result?.state === 'fail';
  });

  afterAll(async () => {
    await ha?.stop();
    if (keep) console.log(`kept ${dir} for its logs`);
    else rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** The leader's name and the standby's, once the standby is back as the synchronous one and HAProxy routes to the leader. */
  async function settled(timeoutMs: number): Promise<{ primary: string; standby: string }> {
    return until(
      'a primary with a synchronous standby, HAProxy routing to the primary',
      async () => {
        const members = await ha.roles();
        const primary = members.find((m) => m.role === 'primary');
        const standby = members.find((m) => m.role === 'sync-standby');
        if (!running(primary) || !running(standby)) return undefined;
        const routed = await ha.routedTo();
        if (routed.length !== 1 || routed[0] !== primary!.name) return undefined;
        return { primary: primary!.name, standby: standby!.name };
      },
      timeoutMs,
    );
  }

  const nodeUrl = (name: string) => `postgres://postgres@127.0.0.1:${ha.nodes.find((n) => n.name === name)!.pgPort}/postgres`;

  async function checkNoAckedWriteMissing(writer: Writer, survivor: string, rejoined: string) {
    const present = new Set((await query<{ id: number }>(ha.url, 'select id from ha_writes')).map((r) => r.id));
    const missing = [...writer.acked].filter((id) => !present.has(id));
    const resurrected = [...writer.failed].filter((id) => present.has(id));
    const doubtPresent = [...writer.inDoubt].filter((id) => present.has(id));
    console.log(
      `${writer.acked.size} acknowledged, ${missing.length} missing; ${writer.failed.size} failed before COMMIT; ` +
        `${writer.inDoubt.size} in doubt (${doubtPresent.length} committed, ${writer.inDoubt.size - doubtPresent.length} not); errors: ${JSON.stringify([...writer.errors])}`,
    );
    expect(missing).toEqual([]);
    expect(resurrected).toEqual([]);
    // The rejoined node has them too: it replays what the survivor had acknowledged.
    const ids = [...writer.acked];
    await until(
      `every acknowledged row replayed on ${rejoined}`,
      async () => {
        const [row] = await query<{ n: string }>(nodeUrl(rejoined), 'select count(*) as n from ha_writes where id = any($1)', [ids]);
        return Number(row!.n) === ids.length ? true : undefined;
      },
      10_000,
    );
    const [row] = await query<{ port: number; recovery: boolean }>(ha.url, 'select inet_server_port() as port, pg_is_in_recovery() as recovery');
    expect(row).toEqual({ port: ha.nodes.find((n) => n.name === survivor)!.pgPort, recovery: false });
  }

  it('comes up with one primary and one synchronous standby, and HAProxy leads to the primary', async () => {
    const { primary, standby } = await settled(30_000);
    const members = await ha.roles();
    expect(members.map((m) => m.role).sort()).toEqual(['primary', 'sync-standby']);
    expect(await ha.leader()).toBe(primary);
    const replication = await query<{ application_name: string; sync_state: string }>(
      nodeUrl(primary),
      'select application_name, sync_state from pg_stat_replication',
    );
    expect(replication).toEqual([{ application_name: standby, sync_state: 'sync' }]);
    const [settings] = await query<{ synchronous_commit: string; names: string }>(
      ha.url,
      "select current_setting('synchronous_commit') as synchronous_commit, current_setting('synchronous_standby_names') as names",
    );
    expect(settings!.synchronous_commit).toBe('on');
    expect(settings!.names).toContain(standby);
  });

  it('a crashed primary postmaster: the standby is promoted, writes go on at the same address, none acknowledged is lost', async () => {
    const { primary: old, standby } = await settled(30_000);
    const writer = new Writer(ha.url, 1);
    writer.start();
    try {
      await writer.acksAfter(0, 50, 10_000);
      const pid = ha.postmasterPid(old)!;
      expect(pid).toBeGreaterThan(0);
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const promotedMs = await until(
        `${standby} promoted`,
        async () => (running((await ha.roles()).find((m) => m.name === standby && m.role === 'primary')) ? Date.now() - killedAt : undefined),
        20_000,
      );
      await writer.acksAfter(killedAt, 50, 20_000);
      const writesBackMs = writer.writesBackAfter(killedAt);
      const again = await settled(40_000);
      const rejoinedMs = Date.now() - killedAt;
      console.log(
        `postmaster kill: promoted after ${promotedMs} ms, writes back after ${writesBackMs} ms, ${old} rejoined as sync standby after ${rejoinedMs} ms`,
      );
      expect(again).toEqual({ primary: standby, standby: old });
      expect(promotedMs).toBeLessThan(15_000);
      await writer.acksAfter(Date.now(), 20, 10_000);
      await writer.stop();
      await checkNoAckedWriteMissing(writer, standby, old);
    } finally {
      await writer.stop();
    }
  }, 90_000);

  it('a lost node (its Patroni and postmaster killed): the standby is promoted once the lock expires, none acknowledged is lost', async () => {
    const { primary: old, standby } = await settled(30_000);
    const patroni = ha.processes.find((p) => p.service.name === `patroni-${old}`)!;
    const writer = new Writer(ha.url, 1_000_000);
    writer.start();
    try {
      await writer.acksAfter(0, 50, 10_000);
      const postmaster = ha.postmasterPid(old)!;
      const killedAt = Date.now();
      patroni.current().child.kill('SIGKILL');
      process.kill(postmaster, 'SIGKILL');
      const promotedMs = await until(
        `${standby} promoted`,
        async () => (running((await ha.roles()).find((m) => m.name === standby && m.role === 'primary')) ? Date.now() - killedAt : undefined),
        (defaultHaTiming.ttl + 15) * 1000,
      );
      await writer.acksAfter(killedAt, 50, 20_000);
      const writesBackMs = writer.writesBackAfter(killedAt);
      // What the supervisor does for an exited process: start it again, same ports and data.
      const restartedAt = Date.now();
      await patroni.service.start();
      const again = await settled(60_000);
      console.log(
        `node loss: promoted after ${promotedMs} ms, writes back after ${writesBackMs} ms, ${old} rejoined ${Date.now() - restartedAt} ms after its restart`,
      );
      expect(again).toEqual({ primary: standby, standby: old });
      expect(promotedMs).toBeLessThan((defaultHaTiming.ttl + 10) * 1000);
      await writer.acksAfter(Date.now(), 20, 10_000);
      await writer.stop();
      await checkNoAckedWriteMissing(writer, standby, old);
    } finally {
      await writer.stop();
    }
  }, 120_000);
});
