import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest';
import { createKafka, ensureTopics } from '../messaging/topics';
import { repoRoot } from '../tools/stack/servers';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { createDevServer } from './helpers/dev-server';
import { freePort } from './global-setup';

const scripts = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The live (not zombie) processes of a process group, as `pid command line`: an orphan keeps its group. */
function liveProcessesIn(group: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== group || state === 'Z') continue;
      found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

describe('package.json scripts', () => {
  it('exec the last command of every script, so that the signal npm forwards reaches the process itself', () => {
    const notExeced = Object.entries(scripts).filter(([, script]) => !/^(\w+=\S*\s+)*exec\s/.test(script.split('&&').at(-1)!.trim()));
    expect(notExeced).toEqual([]);
  });
});

describe('npm run <script>: a signal to npm alone stops the process it runs', () => {
  let db: TestDatabase;
  let temporal: Awaited<ReturnType<typeof createDevServer>>;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), createDevServer()]);
    await ensureTopics(createKafka({ brokers: inject('kafkaBrokers'), clientId: 'npm-scripts-test' }));
  });

  afterAll(async () => {
    await Promise.all([db?.drop(), temporal?.stop()]);
  });

  /** Each script with the line its process logs once it is up, and the variables it needs to get there (given a free port). */
  const apps = {
    worker: { entry: 'worker/main.ts', up: 'worker polling', env: (): NodeJS.ProcessEnv => ({ WORKFLOW_BUNDLE: '' }) },
    api: { entry: 'api/server.ts', up: 'Server listening at', env: (port: number): NodeJS.ProcessEnv => ({ API_PORT: String(port) }) },
    consumer: {
      entry: 'consumer/main.ts',
      up: 'consumer and outbox relay running',
      env: (port: number): NodeJS.ProcessEnv => ({ KAFKA_CONSUMER_GROUP: `npm-scripts-${port}` }),
    },
  };

  const cases = (Object.keys(apps) as (keyof typeof apps)[]).flatMap((script) => (['SIGTERM', 'SIGINT'] as const).map((signal) => [script, signal] as const));

  it.each(cases)('npm run %s, then %s to npm: nothing of it is left running', { timeout: 90_000 }, async (script, signal) => {
    const app = apps[script];
    // Its own process group (and session), as under a service manager: only npm's PID is signalled, never the group.
    const npm = spawn('npm', ['run', script], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: temporal.address,
        KAFKA_BROKERS: inject('kafkaBrokers').join(','),
        ...app.env(await freePort()),
      },
    });
    const group = npm.pid!;
    let output = '';
    npm.stdout.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await vi.waitFor(
        () => {
          if (npm.exitCode !== null) throw new Error(`npm run ${script} exited ${npm.exitCode} before it was up:\n${output}`);
          expect(output).toContain(app.up);
        },
        { timeout: 60_000, interval: 100 },
      );
      expect(liveProcessesIn(group).some((p) => p.includes(app.entry))).toBe(true);

      process.kill(group, signal);

      await vi.waitFor(() => expect(liveProcessesIn(group)).toEqual([]), { timeout: 20_000, interval: 100 });
      // The process itself received the signal and shut down on it, rather than being killed some other way.
      expect(output).toContain(`received ${signal}: shutting down`);
    } finally {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // The group is already empty.
      }
    }
  });
});
