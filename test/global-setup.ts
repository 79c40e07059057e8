import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../tools/stack/ports';
import { readToolchain, repoRoot, startKafka, startPostgres, type ManagedProcess } from '../tools/stack/servers';

export { freePort };

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgPort: number;
    kafkaBrokers: string[];
    temporalBin: string;
    temporalTestServerBin: string;
    pgBin: string;
    toxiproxyBin: string;
  }
}

/** Real PostgreSQL and Kafka for the whole run, on free ports, in throw-away directories. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'saga-test-'));
  chmodSync(scratch, 0o755);
  const servers: ManagedProcess[] = [];
  try {
    const [postgres, kafka] = await Promise.all([
      startPostgres({
        pgBin: toolchain.PG_BIN,
        dataDir: path.join(scratch, 'postgres'),
        port: await freePort(),
        database: 'postgres',
        logFile: path.join(scratch, 'postgres.log'),
      }).then((p) => (servers.push(p), p)),
      startKafka({
        libs: toolchain.KAFKA_LIBS,
        dataDir: path.join(scratch, 'kafka'),
        port: await freePort(),
        controllerPort: await freePort(),
        logFile: path.join(scratch, 'kafka.log'),
      }).then((k) => (servers.push(k), k)),
    ]);
    project.provide('pgAdminUrl', postgres.url);
    project.provide('pgPort', Number(new URL(postgres.url).port));
    project.provide('kafkaBrokers', kafka.brokers);
    project.provide('temporalBin', toolchain.TEMPORAL_BIN);
    project.provide('temporalTestServerBin', toolchain.TEMPORAL_TEST_SERVER_BIN);
    project.provide('pgBin', toolchain.PG_BIN);
    project.provide('toxiproxyBin', toolchain.TOXIPROXY_BIN ?? '');
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop(5_000)));
    throw err;
  }
  return async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(scratch, { recursive: true, force: true });
  };
}
