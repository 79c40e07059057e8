import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../tools/stack/servers';
import { freePort } from './global-setup';

describe('a process that exits says why in its log', () => {
  it('a worker that cannot reach Temporal logs the error with its stack, then its exit code and reason', { timeout: 60_000 }, async () => {
    const closed = await freePort();
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'worker/main.ts')], {
      cwd: repoRoot,
      env: { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${closed}`, WORKER_METRICS_PORT: '0', WORKFLOW_BUNDLE: '', LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 50_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`error: cannot reach Temporal at 127.0.0.1:${closed}`);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; reason?: string; code?: number; err?: { stack?: string } });
    const fatal = lines.find((line) => line.msg.startsWith('exiting: cannot reach Temporal'));
    expect(fatal?.level).toBe(60);
    expect(fatal?.err?.stack).toMatch(/cannot reach Temporal[\s\S]*\n\s+at /);
    expect(lines.at(-1)).toMatchObject({ level: 60, code: 1, msg: 'exited with code 1' });
    expect(lines.at(-1)?.reason).toMatch(/^cannot reach Temporal at 127\.0\.0\.1:\d+/);
  });
});
