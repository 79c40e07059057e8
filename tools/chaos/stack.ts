import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { freeStackPorts } from '../stack/ports';
import { faultLinksFile, type FaultLinksFile } from '../stack/fault-links';
import { repoRoot } from '../stack/servers';
import { toxiproxyClient } from '../stack/toxiproxy';
import type { LinkFaults } from './faults';

export type ProcessKind = 'worker' | 'postgres' | 'kafka' | 'temporal' | 'api' | 'consumer';

export interface ChaosStack {
  apiUrl: string;
  brokers: string[];
  databaseUrl: string;
  temporalAddress: string;
  logDir: string;
  /** The stack's STACK_DIR. */
  stackDir: string;
  /** The pid of the `npm start` process that supervises the others. */
  stackPid: number;
  /** Supervisor lines (restarts) seen so far; empty for a stack we did not start. */
  supervisorLines: string[];
  stop(): Promise<void>;
  /** After stop(): deletes a stack of our own's temporary STACK_DIR (data and logs); nothing for a running stack. */
  discard(): void;
}

/**
 * `npm start` on free ports in a throw-away STACK_DIR, so a chaos run never touches the user's stack.
 * `root` is the checkout whose code runs (the bench's baseline runs an older commit's).
 */
export async function startOwnStack(extraEnv: Record<string, string>, root = repoRoot): Promise<ChaosStack> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOwnStackOnce(extraEnv, root);
    } catch (err) {
      // A free port can be taken by another process between being found and being bound: pick new ones.
      if (!(err instanceof PortTaken) || attempt >= 3) throw err;
      rmSync(err.stackDir, { recursive: true, force: true });
    }
  }
}

class PortTaken extends Error {
  constructor(
    message: string,
    readonly stackDir: string,
  ) {
    super(message);
  }
}

async function startOwnStackOnce(extraEnv: Record<string, string>, root: string): Promise<ChaosStack> {
  const stackDir = mkdtempSync(path.join(os.tmpdir(), 'saga-chaos-'));
  chmodSync(stackDir, 0o755);
  const toolchain = path.join(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'), 'toolchain.env');
  if (!existsSync(toolchain)) throw new Error(`${toolchain} is missing; run: npm run toolchain`);
  copyFileSync(toolchain, path.join(stackDir, 'toolchain.env'));
  const ports = await freeStackPorts();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STACK_DIR: stackDir,
    LOG_LEVEL: 'warn',
    // Faults kill processes on purpose: only a real crash loop may stop this stack.
    STACK_MAX_RESTARTS: '1000',
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    ...extraEnv,
  };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'KAFKA_BROKERS']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'tools/stack/start.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const supervisorLines: string[] = [];
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
    supervisorLines.push(
      ...d
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('stack: ') || l.startsWith('error: ')),
    );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 240_000;
  while (!output.includes('is up') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
  if (!output.includes('is up')) {
    child.kill('SIGINT');
    await exited;
    const message = `the chaos stack did not come up:\n${output.slice(-2_000)}`;
    // A server that lost its port may say so only in its own log (Kafka does).
    throw portTakenIn(output) || serverLogs(stackDir).some(portTakenIn) ? new PortTaken(message, stackDir) : new Error(message);
  }
  return {
    apiUrl: `http://127.0.0.1:${ports.API_PORT}`,
    brokers: [`127.0.0.1:${ports.KAFKA_PORT}`],
    databaseUrl: `postgres://postgres@127.0.0.1:${ports.PG_PORT}/orders`,
    temporalAddress: `127.0.0.1:${ports.TEMPORAL_PORT}`,
    logDir: path.join(stackDir, 'logs'),
    stackDir,
    stackPid: child.pid!,
    supervisorLines,
    stop: () => stopChild(child, exited),
    discard: () => rmSync(stackDir, { recursive: true, force: true }),
  };
}

const portTakenIn = (text: string) => /already in use|is in use/i.test(text);

function serverLogs(stackDir: string): string[] {
  const dir = path.join(stackDir, 'logs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((file) => readFileSync(path.join(dir, file), 'utf8').slice(-20_000));
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}

/** A stack that `npm start` already runs (its STACK_DIR and the usual variables say where). */
export function useRunningStack(): ChaosStack {
  const config = loadConfig(process.env);
  const stackDir = process.env.STACK_DIR ?? path.join(repoRoot, '.stack');
  const pidFile = path.join(stackDir, 'stack.pid');
  if (!existsSync(pidFile)) throw new Error(`no running stack: ${pidFile} is missing; start one with npm start, or drop --use-running`);
  return {
    apiUrl: process.env.API_URL ?? `http://127.0.0.1:${config.API_PORT}`,
    brokers: config.KAFKA_BROKERS,
    databaseUrl: config.DATABASE_URL,
    temporalAddress: config.TEMPORAL_ADDRESS,
    logDir: path.join(stackDir, 'logs'),
    stackDir,
    stackPid: Number(readFileSync(pidFile, 'utf8')),
    supervisorLines: [],
    stop: () => Promise.resolve(),
    discard: () => undefined,
  };
}

const signatures: Record<ProcessKind, (args: string) => boolean> = {
  worker: (a) => a.includes('worker/main.ts'),
  api: (a) => a.includes('api/server.ts'),
  consumer: (a) => a.includes('consumer/main.ts'),
  kafka: (a) => a.includes('kafka.Kafka'),
  temporal: (a) => a.includes('server start-dev') || a.includes('temporal-server --root'),
  postgres: (a) => /\/postgres\s+-D\s/.test(a),
};

/** The pids of the stack's children of one kind (the supervisor starts every one of them). */
export function findProcesses(stackPid: number, kind: ProcessKind): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n');
  return ps
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === stackPid && signatures[kind](m[3]!))
    .map((m) => Number(m[1]));
}

/**
 * The toxics of a stack started with STACK_FAULT_PROXY=1, or undefined for one without. The file is read on
 * every call: a Toxiproxy the supervisor restarted serves its API on another port.
 */
export function linkFaults(stackDir: string): LinkFaults | undefined {
  const file = faultLinksFile(stackDir);
  if (!existsSync(file)) return undefined;
  const read = () => JSON.parse(readFileSync(file, 'utf8')) as FaultLinksFile;
  const client = toxiproxyClient(() => read().api);
  return { pid: read().pid, add: (link, toxic) => client.addToxic(link, toxic), remove: (link, toxic) => client.removeToxic(link, toxic) };
}
