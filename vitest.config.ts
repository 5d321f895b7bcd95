import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Kernel audit state is global to the machine: live test files must never
    // run at the same time, so no file runs beside another.
    fileParallelism: false,
    pool: 'forks',
    globalSetup: ['./test/helpers/build.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
