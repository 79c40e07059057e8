import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../tools/stack/servers';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real CLI as a child process; killed (and reported as hanging) if it has not exited in 30 s. */
export function saga(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'cli/saga.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    const hung = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(hung);
      resolve({ code: signal ? null : code, stdout, stderr });
    });
  });
}

export const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;
