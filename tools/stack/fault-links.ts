import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';
import { startToxiproxy, type Proxy, type Toxiproxy } from './toxiproxy';

/** Every link between two processes that talk, by the app's side: what chaos injects network faults on. */
export const faultLinks = ['worker-postgres', 'worker-temporal', 'api-postgres', 'api-temporal', 'consumer-kafka', 'consumer-temporal'] as const;
export type FaultLink = (typeof faultLinks)[number];

/** Written to STACK_DIR for chaos: where the proxy's API is and what each link proxies. */
export interface FaultLinksFile {
  api: string;
  pid: number;
  links: Record<FaultLink, Proxy>;
}

export const faultLinksFile = (stackDir: string) => path.join(stackDir, 'fault-links.json');

/**
 * Where each link's proxy listens, chosen once before anything starts: Kafka must advertise the consumer's proxy,
 * and a restarted Toxiproxy listens where the apps already point.
 */
export async function planFaultLinks(): Promise<{ listen: Record<FaultLink, string>; kafkaPort: number }> {
  const listen = {} as Record<FaultLink, string>;
  for (const link of faultLinks) listen[link] = `127.0.0.1:${await freePort()}`;
  return { listen, kafkaPort: await freePort() };
}

/**
 * A Toxiproxy with one proxy per link, and the server addresses each app should use instead of the real ones.
 * `STACK_FAULT_PROXY=1 npm start` (chaos sets it) runs the stack so.
 */
export async function startFaultLinks(options: {
  bin: string;
  logFile: string;
  stackDir: string;
  postgres: string;
  temporal: string;
  plan: Awaited<ReturnType<typeof planFaultLinks>>;
}): Promise<Toxiproxy> {
  const toxiproxy = await startToxiproxy({ bin: options.bin, logFile: options.logFile });
  const upstream: Record<FaultLink, string> = {
    'worker-postgres': options.postgres,
    'api-postgres': options.postgres,
    'worker-temporal': options.temporal,
    'api-temporal': options.temporal,
    'consumer-temporal': options.temporal,
    'consumer-kafka': `127.0.0.1:${options.plan.kafkaPort}`,
  };
  const links = {} as Record<FaultLink, Proxy>;
  for (const link of faultLinks) {
    links[link] = await toxiproxy.createProxy({ name: link, upstream: upstream[link], listen: options.plan.listen[link] });
  }
  const file: FaultLinksFile = { api: toxiproxy.api, pid: toxiproxy.child.pid!, links };
  writeFileSync(faultLinksFile(options.stackDir), JSON.stringify(file, null, 2));
  return toxiproxy;
}

/** The URL with its host:port replaced by the link's proxy. */
export function viaProxy(url: string, address: string): string {
  const u = new URL(url);
  u.host = address;
  return u.toString();
}
