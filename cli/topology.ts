import path from 'node:path';
import { parseArgs } from 'node:util';
import { readTopology, type Topology } from '../lib/topology';
import { ExitCode, print } from './context';

export const usage = `  topology                   the running stack's servers: every node with its role, pid and ports, and who leads what
              --json            the file as npm start writes it (<STACK_DIR>/topology.json)`;

/** `topology`: 0 printed, 1 no stack is running here. Reads the file `npm start` keeps fresh; asks no server. */
export function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, strict: true });
  const stackDir = process.env.STACK_DIR || path.join(__dirname, '..', '.stack');
  const topology = readTopology(stackDir);
  if (!topology) {
    process.stderr.write(`no topology in ${stackDir}: start the stack with npm start (TOPOLOGY=replicated for the replicated one)\n`);
    return Promise.resolve(ExitCode.no);
  }
  print(values.json, () => format(topology), topology);
  return Promise.resolve(ExitCode.ok);
}

function format(t: Topology): string {
  const lines = [
    `topology ${t.topology}, started ${t.startedAt}, read ${t.refreshedAt}`,
    `  entry points   API ${t.entryPoints.api} · Temporal ${t.entryPoints.temporal} · Web UI ${t.entryPoints.temporalUi} · Kafka ${t.entryPoints.kafkaBootstrap} · PostgreSQL ${t.entryPoints.postgres}`,
    '',
  ];
  const width = Math.max(...t.nodes.map((n) => n.name.length));
  for (const node of t.nodes) {
    const ports = Object.entries(node.ports)
      .map(([name, port]) => `${name} ${port}`)
      .join(', ');
    lines.push(
      `  ${node.name.padEnd(width)}  ${node.kind.padEnd(8)}  ${(node.pid ? `pid ${node.pid}` : 'down').padEnd(9)}  ${node.role}${ports ? `  (${ports})` : ''}`,
    );
  }
  const { postgres, kafka, temporal } = t.leaders;
  if (postgres || kafka || temporal) lines.push('', 'leaders');
  if (postgres) {
    const members = Object.entries(postgres.members)
      .map(([name, role]) => `${name} ${role}`)
      .join(', ');
    lines.push(`  postgres  primary ${postgres.primary ?? 'none'} (${members})`);
  }
  if (kafka) {
    lines.push(`  kafka  quorum leader node ${kafka.controller ?? 'unknown'}`);
    for (const [topic, partitions] of Object.entries(kafka.partitions)) {
      const leaders = Object.entries(partitions)
        .map(([partition, leader]) => `${partition}→${leader ?? 'none'}`)
        .join(' ');
      lines.push(`  ${topic}  partition→leader ${leaders}`);
    }
  }
  if (temporal) {
    const shards = Object.entries(temporal.shards)
      .map(([node, ids]) => `${node} ${ids ? `[${ids.join(',')}]` : 'not answering'}`)
      .join(', ');
    lines.push(`  temporal  history shards: ${shards}`);
  }
  return lines.join('\n');
}
