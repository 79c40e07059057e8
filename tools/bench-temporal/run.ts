import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { freePort } from '../stack/ports';
import { closeSpawning, readToolchain, repoRoot, startPostgres, startTemporal } from '../stack/servers';
import { startTemporalPostgres, temporalInternalPorts, temporalServerBins } from '../stack/temporal-postgres';
import { treeCpuSeconds } from '../bench/lib/proc-cpu';
import { percentile } from '../bench/lib/stats';

// No-op workflow throughput: the dev server (SQLite) against temporal-server on PostgreSQL, side by side.
const N = Number(process.env.N ?? 300);
const STARTERS = Number(process.env.STARTERS ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const WARMUP = 20;

interface Server {
  name: string;
  address: string;
  /** The processes whose CPU counts as the server's: [label, pid]. */
  pids: [string, number][];
}

async function devServer(dir: string): Promise<Server> {
  const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
  const t = await startTemporal({
    temporalBin: toolchain.TEMPORAL_BIN,
    dbFile: path.join(dir, 'sqlite', 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    logFile: path.join(dir, 'logs', 'temporal-dev.log'),
  });
  return { name: 'dev server (SQLite)', address: t.address, pids: [['temporal', t.child.pid!]] };
}

async function postgresServer(dir: string): Promise<Server> {
  const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
  const pgPort = await freePort();
  const pg = await startPostgres({
    pgBin: toolchain.PG_BIN,
    dataDir: path.join(dir, 'postgres'),
    port: pgPort,
    database: 'postgres',
    logFile: path.join(dir, 'logs', 'postgres.log'),
  });
  const t = await startTemporalPostgres({
    bins: temporalServerBins(),
    dataDir: path.join(dir, 'temporal-server'),
    pgPort,
    ports: await temporalInternalPorts(await freePort()),
    namespace: 'default',
    logFile: path.join(dir, 'logs', 'temporal-server.log'),
  });
  return {
    name: 'temporal-server (PostgreSQL)',
    address: t.address,
    pids: [
      ['temporal', t.child.pid!],
      ['postgres', pg.child.pid!],
    ],
  };
}

async function batch(client: Client, taskQueue: string, kind: string, count: number) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: STARTERS }, async () => {
      for (let i = next++; i < count; i = next++) {
        const start = performance.now();
        await client.workflow.execute('noopWorkflow', { taskQueue, workflowId: `${taskQueue}-${kind}-${i}-${Date.now()}`, args: [kind] });
        latencies.push(performance.now() - start);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-temporal-'));
  chmodSync(dir, 0o755); // initdb runs as the postgres user
  const servers: Server[] = [];
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  try {
    servers.push(await devServer(dir));
    servers.push(await postgresServer(dir));
    const workflowBundle = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows.ts'), logger: new DefaultLogger('WARN') });
    const clients = [];
    for (const server of servers) {
      const taskQueue = `bench-${server.name.split(' ')[0]}`;
      const worker = await Worker.create({
        connection: await NativeConnection.connect({ address: server.address }),
        taskQueue,
        workflowBundle,
        activities: { noop: () => Promise.resolve() },
      });
      workers.push({ worker, running: worker.run() });
      const client = new Client({ connection: await Connection.connect({ address: server.address }) });
      await batch(client, taskQueue, 'regular', WARMUP);
      clients.push({ server, client, taskQueue });
    }
    console.log(`N=${N} workflows x 5 no-op activities, ${STARTERS} concurrent starters, ${os.cpus().length} cores`);
    const idle0 = clients.map(({ server }) => server.pids.map(([, pid]) => treeCpuSeconds(pid)));
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    clients.forEach(({ server }, i) => {
      const busy = server.pids.map(([label, pid], j) => `${label} ${(((treeCpuSeconds(pid) - idle0[i]![j]!) / 10) * 100).toFixed(1)}%`);
      console.log(`idle, 10 s: ${server.name}: ${busy.join(' + ')} of one core`);
    });
    console.log('round | activities | server                       | wf/s  | p50 ms | p99 ms | CPU ms/wf (temporal + postgres) | loadavg');
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of ['regular', 'local']) {
        for (const { server, client, taskQueue } of round % 2 ? clients : [...clients].reverse()) {
          const cpu0 = server.pids.map(([, pid]) => treeCpuSeconds(pid));
          const r = await batch(client, taskQueue, kind, N);
          const cpu = server.pids.map(([, pid], i) => ((treeCpuSeconds(pid) - cpu0[i]!) / N) * 1000);
          const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
          console.log(
            `${round} | ${kind.padEnd(10)} | ${server.name.padEnd(28)} | ${(N / r.seconds).toFixed(1).padStart(5)} | ` +
              `${percentile(r.latencies, 50).toFixed(0).padStart(6)} | ${percentile(r.latencies, 99).toFixed(0).padStart(6)} | ` +
              `${cpu.map((ms) => `${ms.toFixed(1)} ms`).join(' + ')} | ${load}`,
          );
        }
      }
    }
  } finally {
    for (const w of workers) {
      w.worker.shutdown();
      await w.running.catch(() => undefined);
    }
    await Promise.all(closeSpawning().map((proc) => proc.stop()));
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
