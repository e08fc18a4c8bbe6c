import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/check-fixtures.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Model conversion and inference tests are CPU-heavy; two cores means two workers at most.
    maxWorkers: 2,
  },
});
