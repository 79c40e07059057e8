import type { Log } from '../../lib/logger';

const noop = () => undefined;
export const quietLogger: Log = { info: noop, warn: noop, error: noop };
export const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
