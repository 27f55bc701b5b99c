import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Engine processes and ports are real: keep files from starving the 2-core CI machine.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
