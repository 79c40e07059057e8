import net from 'node:net';

/** A port free right now on the loopback interface (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive ports free right now: a fleet's worker metrics ports. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65535) continue;
    let all = true;
    for (let port = first + 1; all && port < first + count; port++) all = await canBind(port);
    if (all) return first;
  }
  throw new Error(`found no ${count} consecutive free ports`);
}

/** Every port `npm start` binds, each free, by the variable that sets it: for stacks beside the user's. */
export async function freeStackPorts() {
  return {
    API_PORT: await freePort(),
    CONSUMER_METRICS_PORT: await freePort(),
    /** Room for a fleet of 4 (worker n serves on this port + n - 1). */
    WORKER_METRICS_PORT: await freePortRun(4),
    PG_PORT: await freePort(),
    KAFKA_PORT: await freePort(),
    KAFKA_CONTROLLER_PORT: await freePort(),
    TEMPORAL_PORT: await freePort(),
    TEMPORAL_UI_PORT: await freePort(),
  };
}
