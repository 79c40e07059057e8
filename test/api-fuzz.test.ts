import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig } from '../config';
import { runFuzz } from '../tools/fuzz/fuzz';
import { readToolchain, repoRoot, waitUntil } from '../tools/stack/servers';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';

const API_KEY = 'fuzz-api-key-0123456789';

/** Schemathesis against the live API: the published document must be exactly what the server enforces. */
describe('the API under an OpenAPI fuzzer (Schemathesis, every check)', () => {
  let stack: RealStack;
  let app: FastifyInstance;
  let baseUrl: string;

  beforeAll(async () => {
    stack = await startRealStack();
    const config = loadConfig({
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      API_KEY,
      // The fuzzer is one client sending as fast as the API answers: the rate limit would answer for the server.
      API_RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'silent',
    });
    app = await buildApp(config, { logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });

  it('a seeded run finds nothing, places orders and refunds, and leaves every invariant intact', { timeout: 300_000 }, async () => {
    const bin = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack')).SCHEMATHESIS_BIN;
    expect(bin, 'SCHEMATHESIS_BIN in .stack/toolchain.env (npm run toolchain installs it)').toBeTruthy();
    const result = await runFuzz({ baseUrl, apiKey: API_KEY, schemathesisBin: bin!, seed: 20261208, maxExamples: 25, workers: 1, runId: 'ci' });

    expect(result.exitCode, result.output).toBe(0);
    expect(result.output).toMatch(/No issues found/);
    // Positive cases must be accepted: a run that places no order or refund proves nothing about them.
    expect(result.accepted.orders).toBeGreaterThan(0);
    expect(result.accepted.refunds).toBeGreaterThan(0);
    // Every kind of check ran: answers for undeclared methods, missing auth and bad input.
    const statuses = new Set(result.calls.map((c) => c.status));
    for (const status of [405, 401, 400]) expect(statuses, `a ${status} among the answers`).toContain(status);

    // Sagas of the accepted orders and refunds end (manual orders wait for their decision), then the money adds up.
    const running = async () =>
      (
        await stack.db.pool.query<{ id: string }>(
          `select id from orders where status = 'PENDING' and confirmation = 'auto' union all select id from refunds where status = 'PENDING'`,
        )
      ).rows.map((r) => r.id);
    await waitUntil('the fuzzed auto orders and refunds to end', async () => (await running()).length === 0, 90_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: still PENDING ${JSON.stringify(await running())}`);
    });
    await assertInvariants(stack.db.pool, { allowPending: true });
  });
});
