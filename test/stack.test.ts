import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePortRun } from '../tools/stack/ports';
import { freePort } from './global-setup';

const repoRoot = path.resolve(__dirname, '..');

function runStack(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tools/stack/start.ts')], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Ports nobody listens on, so only the port under test is taken. */
async function freeStackPorts(): Promise<NodeJS.ProcessEnv> {
  const names = ['API_PORT', 'PG_PORT', 'KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT'];
  const env: NodeJS.ProcessEnv = { STACK_DIR: mkdtempSync(path.join(os.tmpdir(), 'stack-test-')) };
  for (const name of names) env[name] = String(await freePort());
  return env;
}

async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, release: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('npm start error paths', () => {
  it.each(['API_PORT', 'PG_PORT', 'KAFKA_PORT', 'TEMPORAL_UI_PORT', 'CONSUMER_METRICS_PORT', 'WORKER_METRICS_PORT'])(
    'a port in use stops the start and names %s',
    async (variable) => {
      const held = await holdPort();
      try {
        const env = { ...(await freeStackPorts()), [variable]: String(held.port) };
        const result = await runStack(env);
        expect(result.code).toBe(1);
        const lines = result.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toBe(`error: port ${held.port} is already in use; stop whatever holds it or set ${variable} to a free port`);
      } finally {
        await held.release();
      }
    },
  );

  it("a fleet's second worker serves metrics on WORKER_METRICS_PORT + 1: taken, the start stops", async () => {
    const base = await freePortRun(2);
    const held = net.createServer();
    await new Promise<void>((resolve) => held.listen(base + 1, '127.0.0.1', resolve));
    try {
      const result = await runStack({ ...(await freeStackPorts()), WORKERS: '2', WORKER_METRICS_PORT: String(base) });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `error: port ${base + 1} is already in use; stop whatever holds it or set WORKER_METRICS_PORT (+1 for worker-2) to a free port`,
      );
    } finally {
      await new Promise((resolve) => held.close(resolve));
    }
  });

  it('a second start while one is running says so', async () => {
    const env = await freeStackPorts();
    writeFileSync(path.join(env.STACK_DIR!, 'stack.pid'), String(process.pid)); // this live process plays the running stack
    const result = await runStack(env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`error: the stack is already running (pid ${process.pid}); stop it with Ctrl-C there or: kill ${process.pid}`);
  });

  it('bad configuration stops with one line naming the variable and the fix', async () => {
    const result = await runStack({ ...(await freeStackPorts()), TEMPORAL_ADDRESS: 'not-an-address' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'error: invalid TEMPORAL_ADDRESS="not-an-address": expected host:port; fix it or unset TEMPORAL_ADDRESS to use the default',
    );
  });

  it('a missing toolchain says how to install it', async () => {
    const result = await runStack(await freeStackPorts());
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^error: .*toolchain\.env is missing; run: npm run toolchain$/);
  });
});
