import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createTemporalClient } from '../lib/temporal-client';

/** A port nothing listens on: every call fails UNAVAILABLE and the SDK schedules a retry. */
async function deadAddress(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

describe('closing a Temporal client while a failed call waits for its retry', () => {
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);
  afterEach(() => {
    process.off('uncaughtException', onUncaught);
    uncaught.length = 0;
  });

  async function closeDuringRetry(call: () => Promise<unknown>, close: () => Promise<void>) {
    process.prependListener('uncaughtException', onUncaught);
    const failed = call().then(
      () => undefined,
      (err: unknown) => err,
    );
    // The first attempt is refused at once; its retry waits 100-200 ms, and later ones longer.
    await sleep(400);
    await close();
    const outcome = await failed;
    // Past the longest retry delay (5 s plus jitter), so a timer left behind would have fired.
    await sleep(6_500);
    return outcome;
  }

  it("the SDK's own connection throws 'Channel has been shut down' outside any promise (why ours drains)", async () => {
    const connection = Connection.lazy({ address: await deadAddress() });
    void closeDuringRetry(
      () => connection.workflowService.getSystemInfo({}),
      () => connection.close(),
    ).catch(() => undefined);
    await sleep(7_500);
    process.off('uncaughtException', onUncaught);
    expect(uncaught.map((e) => e.message)).toContain('Channel has been shut down');
  });

  it('ours stops retrying, waits out the pending timer, then closes: the call fails UNAVAILABLE and nothing throws', async () => {
    const { client, close } = createTemporalClient({ address: await deadAddress(), namespace: 'default' });
    const began = Date.now();
    const outcome = await closeDuringRetry(() => client.workflowService.getSystemInfo({}), close);
    expect(uncaught).toEqual([]);
    expect(outcome).toMatchObject({ code: 14 });
    expect(Date.now() - began).toBeLessThan(20_000);
  });
});
