/** Processes the bench starts itself (reference workers, extra order workers, classic consumers); all stopped on exit. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const repoDir = path.resolve(__dirname, '..', '..', '..');

export interface Child {
  name: string;
  pid: number;
  /** Every stdout line so far. */
  lines: string[];
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
}

const running = new Set<Child>();
const cleanups = new Set<() => Promise<void>>();

/** Work that Ctrl-C must undo (a second stack, a git worktree); returns a function that forgets it. */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** `node --import tsx <entry>` from the repository root; stderr is kept for the error message if it dies. */
export function spawnTs(name: string, entry: string, env: NodeJS.ProcessEnv): Child {
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(repoDir, entry)], { cwd: repoDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2_000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child: Child = {
    name,
    pid: proc.pid!,
    lines,
    exited,
    async stop(graceMs = 15_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
    },
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
      running.delete(child);
    },
  };
  void exited.then(() => {
    if (running.has(child) && proc.exitCode !== 0 && proc.signalCode !== 'SIGKILL' && proc.signalCode !== 'SIGTERM') {
      process.stderr.write(`bench: ${name} (pid ${child.pid}) exited with ${proc.exitCode ?? proc.signalCode}: ${stderr.trim().slice(-500)}\n`);
    }
  });
  running.add(child);
  return child;
}

export async function waitForLine(child: Child, match: (line: string) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!child.lines.some(match)) {
    if (exited) throw new Error(`${child.name} exited before it was ready`);
    if (Date.now() > deadline) throw new Error(`${child.name} not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop(10_000)));
  for (const cleanup of [...cleanups].reverse()) await cleanup().catch(() => undefined);
  cleanups.clear();
}

/** Last resort on process exit: nothing the bench started may outlive it. */
export function killAllChildrenSync(): void {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Ctrl-C while startOwnStack is still starting: it has not handed back its stop() yet, so send SIGINT to
 * the `tools/stack/start.ts` process it spawned (a child of this process; it stops whatever it started so far)
 * and wait until it is gone.
 */
export async function stopStartingStack(timeoutMs = 90_000): Promise<void> {
  const ps = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n');
  const pids = ps
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === process.pid && m[3]!.includes('tools/stack/start.ts'))
    .map((m) => Number(m[1]));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  // Its temporary STACK_DIR (startOwnStack's mkdtemp) is known only to it: read it before it goes.
  const dirs = pids.map(stackDirOf).filter((d): d is string => d !== undefined);
  for (const pid of pids) process.kill(pid, 'SIGINT');
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (!pids.some(alive)) for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

function stackDirOf(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const dir = env.find((e) => e.startsWith('STACK_DIR='))?.slice('STACK_DIR='.length);
    return dir && path.basename(dir).startsWith('saga-chaos-') && path.dirname(dir) === os.tmpdir() ? dir : undefined;
  } catch {
    return undefined;
  }
}
