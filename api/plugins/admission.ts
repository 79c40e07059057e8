import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { Admission, countBacklog } from '../../intake/admission';

declare module 'fastify' {
  interface FastifyInstance {
    admission: Admission;
  }
}

/** Counts the saga backlog while the API serves, through the Temporal client. */
const admission: FastifyPluginCallback<{ taskQueue: string; limit: number; everyMs: number }> = (app, options, done) => {
  const gate = new Admission(countBacklog(app.temporal, options.taskQueue), options.limit, options.everyMs);
  app.decorate('admission', gate);
  app.addHook('onReady', (ready) => {
    gate.start();
    ready();
  });
  app.addHook('onClose', (_instance, closed) => {
    gate.stop();
    closed();
  });
  done();
};

export default fp(admission, { name: 'admission', dependencies: ['temporal'], fastify: '5.x' });
