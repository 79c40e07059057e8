import { mkdtempSync, readFileSync } from 'node:fs';
import { pbkdf2 } from 'node:crypto';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { writeLastLine } from '../lib/exit';

describe("a process's last log line", () => {
  it('is on disk when writeLastLine returns, though the destination writes asynchronously', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'exit-line-')), 'log');
    const destination = pino.destination({ dest: file, sync: false });
    await once(destination, 'ready');
    const logger = pino(destination);
    logger.info('earlier line');
    await once(destination, 'write');
    // Occupy libuv's thread pool, as an exiting process's pending work may: an asynchronous write waits behind it.
    const busy = Array.from({ length: 8 }, () => new Promise((done) => pbkdf2('x', 'y', 300_000, 32, 'sha256', done)));
    writeLastLine(logger, 1, 'cannot reach Temporal');
    // Read before yielding: an asynchronous write could not have landed yet.
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; code?: number; reason?: string; level: number });
    expect(lines.at(-1)).toMatchObject({ level: 60, code: 1, reason: 'cannot reach Temporal', msg: 'exited with code 1' });
    await Promise.all(busy);
  });

  it('stays the last: what the logger or its children log after it (a later exit listener) is not written', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'exit-line-')), 'log');
    const destination = pino.destination({ dest: file, sync: false });
    await once(destination, 'ready');
    const logger = pino(destination);
    const child = logger.child({ component: 'worker' });
    logger.info('earlier line');
    await once(destination, 'write');
    writeLastLine(logger, 0, 'received SIGTERM');
    logger.info('after the exit line');
    child.warn('after the exit line, from a child');
    destination.flushSync();
    const messages = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(['earlier line', 'exited with code 0']);
  });
});
