import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startTemporal } from '../../tools/stack/servers';
import { freePort } from '../global-setup';

/** A real Temporal dev server (SQLite file), restartable on the same port and data. */
export async function createDevServer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'temporal-dev-'));
  chmodSync(dir, 0o755);
  const logFile = path.join(dir, 'temporal.log');
  const startOn = (port: number, uiPort: number) =>
    startTemporal({ temporalBin: inject('temporalBin'), dbFile: path.join(dir, 'temporal.db'), port, uiPort, namespace: 'default', logFile });
  // The dev server picks its internal services' ports itself, after ours were found free: one of them may take
  // a port just handed to another server (seen in CI: "bind: address already in use", exit 2). New ports, again.
  let port = 0;
  let uiPort = 0;
  const firstStart = async () => {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      uiPort = await freePort();
      try {
        return await startOn(port, uiPort);
      } catch (err) {
        if (attempt >= 3 || !readFileSync(logFile, 'utf8').includes('address already in use')) throw err;
      }
    }
  };
  let server = await firstStart();
  const start = () => startOn(port, uiPort);
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
