import { mkdtempSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startTemporal } from '../../stack/servers';
import { freePort } from '../global-setup';

/** A real Temporal dev server (SQLite file), restartable on the same port and data. */
export async function createDevServer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'temporal-dev-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const uiPort = await freePort();
  const start = () =>
    startTemporal({
      temporalBin: inject('temporalBin'),
      dbFile: path.join(dir, 'temporal.db'),
      port,
      uiPort,
      namespace: 'default',
      logFile: path.join(dir, 'temporal.log'),
    });
  let server = await start();
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      await server.stop();
    },
    async restart() {
      server = await start();
    },
    /** kill -9: no shutdown, whatever the process held in memory is gone. */
    async crash() {
      server.child.kill('SIGKILL');
      await server.exited;
    },
  };
}
