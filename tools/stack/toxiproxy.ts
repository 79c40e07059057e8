import { freePort } from './ports';
import { spawnManaged, StackError, waitForServer, type ManagedProcess } from './servers';

/** The kinds of network fault chaos and the tests inject; Toxiproxy's toxic types. */
export const networkFaultKinds = ['latency', 'timeout', 'reset_peer', 'slow_close'] as const;
export type NetworkFaultKind = (typeof networkFaultKinds)[number];

export interface Toxic {
  name: string;
  type: NetworkFaultKind | 'bandwidth' | 'limit_data';
  /** downstream: from the server to the client (replies); upstream: from the client to the server. */
  stream: 'upstream' | 'downstream';
  toxicity?: number;
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  /** host:port the client connects to instead of the server. */
  listen: string;
  upstream: string;
}

/** The calls of Toxiproxy's HTTP API, one function each. `api` is read on every call: a restarted Toxiproxy may serve elsewhere. */
export interface ToxiproxyClient {
  /** Listens on `listen` when given (Kafka must advertise it before it starts), else on a free port. */
  createProxy(p: { name: string; upstream: string; listen?: string }): Promise<Proxy>;
  addToxic(proxy: string, toxic: Toxic): Promise<void>;
  removeToxic(proxy: string, toxic: string): Promise<void>;
  /** A disabled proxy refuses new connections and closes the open ones. */
  setEnabled(proxy: string, enabled: boolean): Promise<void>;
  /** Every proxy enabled, every toxic removed. */
  reset(): Promise<void>;
}

/** A running Toxiproxy and its API. */
export interface Toxiproxy extends ManagedProcess, ToxiproxyClient {
  api: string;
}

async function call(api: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${api}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  if (!response.ok) throw new StackError(`toxiproxy ${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export function toxiproxyClient(api: () => string): ToxiproxyClient {
  const proxy = (name: string) => `/proxies/${encodeURIComponent(name)}`;
  return {
    async createProxy({ name, upstream, listen: given }) {
      const listen = given ?? `127.0.0.1:${await freePort()}`;
      await call(api(), 'POST', '/proxies', { name, listen, upstream, enabled: true });
      return { name, listen, upstream };
    },
    async addToxic(name, toxic) {
      await call(api(), 'POST', `${proxy(name)}/toxics`, { toxicity: 1, ...toxic });
    },
    async removeToxic(name, toxic) {
      await call(api(), 'DELETE', `${proxy(name)}/toxics/${encodeURIComponent(toxic)}`);
    },
    async setEnabled(name, enabled) {
      await call(api(), 'POST', proxy(name), { enabled });
    },
    async reset() {
      await call(api(), 'POST', '/reset');
    },
  };
}

/** Starts Toxiproxy's server on a free port; proxies listen on free loopback ports the caller never has to pick. */
export async function startToxiproxy(options: { bin: string; logFile: string }): Promise<Toxiproxy> {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const proc = spawnManaged({ name: 'toxiproxy', command: options.bin, args: ['-host', '127.0.0.1', '-port', String(port)], logFile: options.logFile });
  await waitForServer(
    proc,
    'toxiproxy',
    () =>
      fetch(`${api}/version`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.ok,
        () => false,
      ),
    15_000,
  );
  return Object.assign(
    proc,
    { api },
    toxiproxyClient(() => api),
  );
}

/** The toxic of each kind as chaos and the tests use it: seconds of latency, a blackhole, a reset, a slow close. */
export function toxicOf(kind: NetworkFaultKind, stream: Toxic['stream'], name = `${kind}-${stream}`): Toxic {
  const attributes: Record<NetworkFaultKind, Record<string, number>> = {
    latency: { latency: 2_000, jitter: 1_000 },
    // 0: the connection stays open and every byte is dropped, so a reply never comes.
    timeout: { timeout: 0 },
    reset_peer: { timeout: 0 },
    slow_close: { delay: 3_000 },
  };
  return { name, type: kind, stream, attributes: attributes[kind] };
}
