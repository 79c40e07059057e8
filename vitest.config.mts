import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal native bridge breaks under worker threads: one process per test file.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['./test/global-setup.ts'],
    setupFiles: ['./test/setup-runtime.ts'],
    // Processes the tests spawn serve no metrics unless a test gives them free ports: two files, or the user's
    // own stack, would otherwise want the same default ports.
    env: { WORKER_METRICS_PORT: '0', CONSUMER_METRICS_PORT: '0' },
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
