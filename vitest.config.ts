import { configDefaults, defineConfig } from 'vitest/config';

// Tests start real servers and real `memento` processes, so files run in separate forks and
// time limits are generous; speed is measured by `npm run bench`, never by these tests.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real collector, Jaeger and Prometheus: `npm run test:stack` (test/stack/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'test/stack/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
  },
});
