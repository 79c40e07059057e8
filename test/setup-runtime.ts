import { DefaultLogger, Runtime } from '@temporalio/worker';

// Activity failures that tests provoke on purpose would otherwise flood the output.
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
});
