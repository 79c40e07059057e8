import type { Client, Connection } from '@temporalio/client';
import type { Producer } from 'kafkajs';
import type { ChaosStack } from '../../chaos/stack';
import type { Pool } from '../../../db/pool';
import type { BenchResults } from '../report/results';
import type { DonePoller } from './done-poller';
import type { Target } from './drive';
import type { Flags } from './flags';
import type { IndexAllocator, OrderKind, Workload } from './workload';

export interface BenchContext {
  run: string;
  flags: Flags;
  stack: ChaosStack;
  client: Client;
  connection: Connection;
  /** The stack's database (the service's tables). */
  pool: Pool;
  /** The references' own database on the same PostgreSQL. */
  ref: { url: string; pool: Pool };
  workload: Workload;
  indexes: Record<OrderKind, IndexAllocator>;
  targets: { service: Target; noop: Target; noopLocal: Target; classic: Target };
  servicePoller: DonePoller;
  producer: Producer;
  classicTopic: string;
  noopTaskQueue: string;
  noopWorkerPid: number;
  results: BenchResults;
  log: (line: string) => void;
  /** Set by Ctrl-C: sections stop at their next step. */
  aborted: () => boolean;
}
