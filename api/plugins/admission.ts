import type { FastifyInstance } from 'fastify';
import { Admission, countBacklog } from '../../intake/admission';

declare module 'fastify' {
  interface FastifyInstance {
    admission: Admission;
  }
}

/** Counts the saga backlog while the API serves; after the Temporal client, which it reads through. */
export function registerAdmission(app: FastifyInstance, options: { taskQueue: string; limit: number; everyMs: number }): void {
  const admission = new Admission(countBacklog(app.temporal, options.taskQueue), options.limit, options.everyMs);
  app.decorate('admission', admission);
  app.addHook('onReady', (done) => {
    admission.start();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    admission.stop();
    done();
  });
}
