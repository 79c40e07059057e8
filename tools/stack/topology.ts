import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { topologyFile, type Topology, type TopologyKind, type TopologyLeaders, type TopologyNode } from '../../lib/topology';
import type { ManagedProcess } from './servers';
import type { Service } from './supervisor';

/** How often the file's pids and leaders are read again: a leader change shows within this. */
const REFRESH_MS = 3_000;

/** A server node as the topology lists it, and the name of the supervised service that runs it. */
export type ServerNode = Omit<TopologyNode, 'pid'> & { service: string };

export interface TopologyFileOptions {
  stackDir: string;
  topology: Topology['topology'];
  entryPoints: Topology['entryPoints'];
  /** The servers; each node's pid is read from `running` by its service's name. */
  servers: () => ServerNode[];
  /** Every process the supervisor runs now, by service name: the servers' and the apps' (api, consumer, workers). */
  running: () => ReadonlyMap<string, ManagedProcess>;
  /** An app's ports by name (the API's, a worker's metrics). */
  appPorts: (name: string) => Record<string, number>;
  /** Who leads what now (replicated only); a failure to ask leaves the last answer. */
  leaders?: () => Promise<TopologyLeaders>;
  signal: AbortSignal;
}

/**
 * Writes <STACK_DIR>/topology.json once the stack is up, again every few seconds while it runs, and removes it when
 * the stack stops, so the file never describes a stack that is gone. Each write replaces the file whole (rename).
 */
export async function startTopologyFile(o: TopologyFileOptions): Promise<{ file: string }> {
  const file = topologyFile(o.stackDir);
  const startedAt = new Date().toISOString();
  let leaders: TopologyLeaders = {};
  const write = async () => {
    if (o.leaders) leaders = await o.leaders().catch(() => leaders);
    const running = o.running();
    const serverNodes = o.servers();
    const services = new Set(serverNodes.map((node) => node.service));
    const servers = serverNodes.map(({ service, ...node }): TopologyNode => ({ ...node, pid: running.get(service)?.child.pid ?? 0 }));
    const apps = [...running]
      .filter(([name]) => !services.has(name))
      .map(([name, proc]): TopologyNode => ({ name, kind: 'app', role: appRole(name), pid: proc.child.pid ?? 0, ports: o.appPorts(name) }));
    const topology: Topology = {
      topology: o.topology,
      startedAt,
      refreshedAt: new Date().toISOString(),
      entryPoints: o.entryPoints,
      nodes: [...servers, ...apps],
      leaders,
    };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(topology, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  };
  await write();
  void (async () => {
    while (!o.signal.aborted) {
      await sleep(REFRESH_MS, undefined, { signal: o.signal }).catch(() => undefined);
      if (o.signal.aborted) break;
      await write().catch(() => undefined);
    }
    rmSync(file, { force: true });
  })();
  return { file };
}

function appRole(name: string): string {
  if (name === 'api') return 'REST API';
  if (name === 'consumer') return 'Kafka consumer and outbox relay';
  return 'worker';
}

const kindOf = (name: string): TopologyKind => (name.startsWith('postgres') ? 'postgres' : name.startsWith('kafka') ? 'kafka' : 'temporal');

/** The embedded topology: one process per server. */
export function embeddedNodes(launched: [Service, ManagedProcess][], ports: { pg: number; kafka: number; temporal: number; ui: number }): ServerNode[] {
  const portsOf: Record<string, Record<string, number>> = {
    postgres: { postgres: ports.pg },
    kafka: { client: ports.kafka },
    temporal: { grpc: ports.temporal, ui: ports.ui },
  };
  return launched.map(([service]) => ({
    name: service.name,
    service: service.name,
    kind: kindOf(service.name),
    role: 'single node',
    ports: portsOf[service.name] ?? {},
  }));
}
