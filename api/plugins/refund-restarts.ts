import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { restartUnstartedRefunds } from '../../intake/restart-refunds';

/**
 * Every `everyMs`, starts the stored refunds whose start never came back: a refund answered 503, or stored by
 * a process that died before its start, reaches its end without anyone retrying it.
 */
const refundRestarts: FastifyPluginCallback<{ taskQueue: string; everyMs: number }> = (app, { taskQueue, everyMs }, done) => {
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let closing = false;
  const sweep = async () => {
    try {
      const { started, error } = await restartUnstartedRefunds({ client: app.temporal, pool: app.db, taskQueue });
      if (started.length) {
        app.metrics.refundsRestarted.inc(started.length);
        app.log.warn({ refundIds: started }, `started ${started.length} stored refund(s) whose start never came back`);
      }
      if (error) app.log.warn({ err: error }, 'refund sweep: Temporal did not answer; the rest wait for the next sweep');
    } catch (err) {
      app.log.warn({ err }, 'refund sweep failed; the next one retries');
    }
  };
  const schedule = () => {
    if (closing) return;
    timer = setTimeout(() => {
      sweeping = sweep().finally(schedule);
    }, everyMs);
  };
  app.addHook('onReady', (ready) => {
    schedule();
    ready();
  });
  app.addHook('onClose', async () => {
    closing = true;
    clearTimeout(timer);
    await sweeping;
  });
  done();
};

export default fp(refundRestarts, { name: 'refund-restarts', dependencies: ['database', 'temporal', 'metrics'], fastify: '5.x' });
