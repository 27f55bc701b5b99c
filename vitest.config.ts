import { configDefaults, defineConfig } from 'vitest/config';

const INFRA = 'test/infra/**/*.test.ts';

export default defineConfig({
  test: {
    setupFiles: ['./test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Engine processes and ports are real: keep files from starving the 2-core CI machine.
    maxWorkers: 2,
    fileParallelism: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit-e2e',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, INFRA],
        },
      },
      {
        // The AWS stack's tests read one synthesized stack (cdk-nag and cfn-guard included,
        // tens of seconds on a busy 2-core machine): without isolation the files of a worker share
        // it (test/infra/support/stack.ts memoizes it) instead of synthesizing it once each.
        extends: true,
        test: { name: 'infra', include: [INFRA], isolate: false },
      },
    ],
  },
});
