import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal native bridge breaks under worker threads: one process per test file.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['./test/global-setup.ts'],
    setupFiles: ['./test/setup-runtime.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
