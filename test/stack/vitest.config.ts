import { defineConfig } from 'vitest/config';

// The stack tests: one real collector, Jaeger and Prometheus for the whole run, started by the
// global setup (built first if the cache lacks them). Files run one at a time because some
// restart a program of the shared stack. `npm run test:stack`; .ci/run runs it after `npm test`.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/stack/**/*.test.ts'],
    globalSetup: ['test/stack/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
