import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, vi } from 'vitest';
import { freeStackPorts } from '../../tools/stack/ports';
import { repoRoot } from '../../tools/stack/servers';

/** `npm start` as a user or a service manager runs it, in a stack directory of its own, on free ports. */
export interface NpmStart {
  stackDir: string;
  ports: Awaited<ReturnType<typeof freeStackPorts>>;
  env: NodeJS.ProcessEnv;
  child: ChildProcessWithoutNullStreams;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  exited: Promise<number | null>;
  /** Resolves once the banner says it is up, or it exited, or the time ran out (the caller asserts on output()). */
  untilUp(timeoutMs: number): Promise<void>;
  /**
   * SIGTERM to npm's own process only (a terminal's Ctrl-C reaches the whole group; a service manager may not), then
   * asserts that the stack said it stopped and left no process behind.
   */
  stopAndExpectNothingLeft(timeoutMs: number): Promise<void>;
}

export async function npmStart(extraEnv: Record<string, string> = {}, prefix = 'stack-'): Promise<NpmStart> {
  const stackDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // Patroni and its PostgreSQL (the replicated topology) run as the postgres user under this folder.
  chmodSync(stackDir, 0o755);
  const installed = process.env.STACK_DIR ?? path.join(repoRoot, '.stack');
  // npm start runs the toolchain check first: it finds the servers this checkout installed, and installs nothing.
  for (const file of ['toolchain.env', 'test-server.version'])
    if (existsSync(path.join(installed, file))) copyFileSync(path.join(installed, file), path.join(stackDir, file));
  symlinkSync(path.join(installed, 'venv'), path.join(stackDir, 'venv'));
  const ports = await freeStackPorts();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STACK_DIR: stackDir,
    LOG_LEVEL: 'warn',
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    ...extraEnv,
  };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'KAFKA_BROKERS', 'WORKER_VERSIONING', 'WORKER_DEPLOYMENT_PROMOTE']) delete env[name];
  // Through npm, whose script execs the stack so that a signal npm forwards reaches it.
  const child = spawn('npm', ['start', '--silent'], { cwd: repoRoot, env });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    stackDir,
    ports,
    env,
    child,
    output: () => output,
    exited,
    async stopAndExpectNothingLeft(timeoutMs) {
      child.kill('SIGTERM');
      await exited;
      await vi.waitFor(
        () => {
          expect(processesUsing(stackDir)).toEqual([]);
          expect(output).toContain('saga-orchestrator stopped');
        },
        { timeout: timeoutMs, interval: 250 },
      );
    },
    async untilUp(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes('is up') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    },
  };
}

/** Processes whose command line names the folder: what a stack left running there. */
export function processesUsing(dir: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout.split('\n');
  return ps.filter((line) => line.includes(dir) && !line.includes('ps -eo'));
}
