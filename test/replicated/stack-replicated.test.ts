import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { Topics } from '../../contract/topics';
import { readTopology, topologyFile } from '../../lib/topology';
import { createKafka } from '../../messaging/topics';
import { assertInternalPortsFree, internalPorts } from '../../tools/stack/replicated';
import { canConnect, repoRoot } from '../../tools/stack/servers';
import { npmStart } from '../helpers/npm-start';

/** A base whose internal ports are all free now. */
async function freeInternalBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 100 * Math.floor(Math.random() * 100);
    if (
      await assertInternalPortsFree(base).then(
        () => true,
        () => false,
      )
    )
      return base;
  }
  throw new Error('no free run of internal ports');
}

describe('TOPOLOGY=replicated npm start', () => {
  it(
    'brings up three Kafka nodes, two Temporal servers behind nginx and PostgreSQL under Patroni at the embedded addresses, describes them, serves an order, and stops cleanly',
    { timeout: 360_000 },
    async () => {
      const base = await freeInternalBase();
      const stack = await npmStart({ TOPOLOGY: 'replicated', STACK_INTERNAL_PORT_BASE: String(base) }, 'stack-replicated-');
      const { stackDir, ports, env } = stack;
      try {
        await stack.untilUp(240_000);
        const output = stack.output();
        expect(output).toContain('saga-orchestrator is up');
        // The embedded stack's entry points: every client and command works unchanged.
        expect(output).toContain(`Temporal            127.0.0.1:${ports.TEMPORAL_PORT}`);
        expect(output).toContain(`DATABASE_URL        postgres://postgres@127.0.0.1:${ports.PG_PORT}/orders`);
        expect(output).toMatch(new RegExp(`Kafka bootstrap     127\\.0\\.0\\.1:${ports.KAFKA_PORT},`));
        expect(output).toContain(`topology            ${topologyFile(stackDir)}`);

        // The file names every node with a live pid, and who leads what (refreshed every few seconds).
        await vi.waitFor(() => expect(readTopology(stackDir)?.leaders.temporal).toBeDefined(), { timeout: 30_000, interval: 500 });
        const topology = readTopology(stackDir)!;
        expect(topology.topology).toBe('replicated');
        const names = topology.nodes.map((n) => n.name).sort();
        expect(names).toEqual(
          [
            'api',
            'consumer',
            'etcd',
            'haproxy',
            'kafka-1',
            'kafka-2',
            'kafka-3',
            'pg0',
            'pg1',
            'temporal-1',
            'temporal-2',
            'temporal-lb',
            'temporal-ui',
            'worker',
          ].sort(),
        );
        for (const node of topology.nodes) expect({ node: node.name, alive: node.pid > 0 }).toEqual({ node: node.name, alive: true });
        const internal = internalPorts(base);
        expect(topology.nodes.find((n) => n.name === 'pg0')?.ports).toEqual({ postgres: internal.postgres[0]!.pgPort, rest: internal.postgres[0]!.restPort });
        const { postgres, kafka, temporal } = topology.leaders;
        expect(Object.values(postgres!.members).sort()).toEqual(['primary', 'sync-standby']);
        expect(postgres!.primary).toMatch(/^pg[01]$/);
        expect(Object.keys(kafka!.partitions[Topics.commands]!)).toHaveLength(3);
        expect(
          Object.values(temporal!.shards)
            .flatMap((s) => s ?? [])
            .sort(),
        ).toEqual([1, 2, 3, 4]);

        // The operator's view is the same file.
        const cli = spawnSync('npm', ['run', '-s', 'saga', '--', 'topology'], { cwd: repoRoot, env, encoding: 'utf8' });
        expect(cli.status, cli.stderr).toBe(0);
        expect(cli.stdout).toMatch(/^topology replicated/);
        expect(cli.stdout).toMatch(/postgres {2}primary pg[01] /);

        // Every service topic has three in-sync replicas and refuses writes below two.
        const admin = createKafka({ brokers: [`127.0.0.1:${ports.KAFKA_PORT}`], clientId: 'stack-replicated-test' }).admin();
        await admin.connect();
        try {
          const { topics } = await admin.fetchTopicMetadata({ topics: [Topics.commands, Topics.events] });
          for (const topic of topics)
            for (const p of topic.partitions)
              expect({ topic: topic.name, replicas: p.replicas.length, isr: p.isr.length }).toEqual({ topic: topic.name, replicas: 3, isr: 3 });
        } finally {
          await admin.disconnect();
        }

        // An order goes through the whole replicated stack.
        const api = `http://127.0.0.1:${ports.API_PORT}`;
        const json = { 'content-type': 'application/json' };
        expect(
          (await fetch(`${api}/accounts`, { method: 'POST', headers: json, body: JSON.stringify({ accountId: 'alice', openingBalanceCents: 10_000 }) })).status,
        ).toBe(201);
        expect((await fetch(`${api}/inventory/book-1`, { method: 'PUT', headers: json, body: JSON.stringify({ available: 5 }) })).status).toBe(200);
        const order = await fetch(`${api}/orders`, {
          method: 'POST',
          headers: { ...json, 'idempotency-key': 'order-1001', prefer: 'wait=20' },
          body: JSON.stringify({ customerId: 'alice', items: [{ sku: 'book-1', quantity: 2, unitPriceCents: 1_999 }] }),
        });
        expect(await order.json()).toMatchObject({ orderId: 'order-1001', status: 'CONFIRMED' });
        expect((await fetch(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).ok).toBe(true);
      } finally {
        await stack.stopAndExpectNothingLeft(90_000);
      }
      for (const [name, port] of Object.entries(ports)) expect(await canConnect(port), `${name} ${port} still bound`).toBe(false);
      expect(existsSync(topologyFile(stackDir)), 'topology.json of a stopped stack').toBe(false);
    },
  );
});
