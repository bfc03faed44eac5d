import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    // Each test file gets its own database; two files at a time keep both cores busy without swapping.
    maxWorkers: 2,
    // Generous: CI shares two cores between two test files, their databases and spawned servers.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 20_000,
    sequence: { hooks: 'stack' },
  },
});
