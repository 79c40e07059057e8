import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The running stack's topology, as `npm start` writes it to <STACK_DIR>/topology.json and refreshes it every few
 * seconds (pids after a restart, who leads what): read by `npm run saga -- topology`, chaos and scripts.
 */

export type TopologyKind = 'postgres' | 'kafka' | 'temporal' | 'app';

export interface TopologyNode {
  name: string;
  kind: TopologyKind;
  /** What the node is for, e.g. "Patroni node", "broker and controller", "load balancer (nginx grpc_pass)". */
  role: string;
  /** 0 while it is down (being restarted). */
  pid: number;
  ports: Record<string, number>;
}

export interface TopologyLeaders {
  /** The Patroni member that is primary, and each member's role (primary, sync-standby, replica, down). */
  postgres?: { primary: string | null; members: Record<string, string> };
  /** The node leading the KRaft quorum, and each partition's leader per topic (node ids). */
  kafka?: { controller: number | null; partitions: Record<string, Record<string, number | null>> };
  /** The history shards each Temporal node owns (null: its history service did not answer). */
  temporal?: { shards: Record<string, number[] | null> };
}

export interface Topology {
  topology: 'embedded' | 'replicated';
  startedAt: string;
  /** When the pids and leaders were last read. */
  refreshedAt: string;
  entryPoints: { api: string; temporal: string; temporalUi: string; kafkaBootstrap: string; postgres: string };
  nodes: TopologyNode[];
  leaders: TopologyLeaders;
}

export const topologyFile = (stackDir: string): string => path.join(stackDir, 'topology.json');

/** The topology a running stack wrote, or undefined when there is none (no stack, or one that stopped). */
export function readTopology(stackDir: string): Topology | undefined {
  try {
    return JSON.parse(readFileSync(topologyFile(stackDir), 'utf8')) as Topology;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
