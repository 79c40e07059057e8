import { installRuntimeLogger } from '../worker/runtime';
import { runtimeLogger } from './helpers/loggers';

// As in the worker process, but ERROR only: failures the tests provoke on purpose would flood the output.
installRuntimeLogger(runtimeLogger, { coreLevel: 'ERROR' });
