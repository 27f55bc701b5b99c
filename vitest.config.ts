import { configDefaults, defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/sequencer.ts';

const INFRA = 'test/infra/**/*.test.ts';
const UNIT = 'test/unit/**/*.test.ts';
/** The deployed-workflow files (support/aws-suite.ts): each starts from the synthesized stack too. */
const AWS_WORKFLOWS = [
  'backup-workflows',
  'export',
  'fault-injection',
  'forks',
  'live-import',
  'mongodb-lifecycle',
  'mysql-lifecycle',
  'networking',
  'pitr-workflows',
  'postgres-lifecycle',
  'postgres-rotation',
  'redis-lifecycle',
  'redis-rotation',
  'replicas',
  'replicas-cache-docdb',
  'scaling',
  'upgrade-workflows',
].map((name) => `test/workflows/aws-${name}.test.ts`);

export default defineConfig({
  test: {
    setupFiles: ['./test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Engine processes and ports are real: keep files from starving the 2-core CI machine.
    maxWorkers: 2,
    fileParallelism: true,
    // Longest files first (test/durations.json), so CI does not end with one long file alone.
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit-e2e',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, UNIT, INFRA, ...AWS_WORKFLOWS],
        },
      },
      {
        // The unit files start no platform and no engine: without isolation each worker imports the
        // modules they share once, not once per file. test/unit alone: 233 s and 212 s of CPU
        // isolated, 101 s and 90 s without (import 205 s -> 37 s; load 9). A unit test that changes
        // process.env or another global puts it back. Named to sort after unit-e2e (test/sequencer.ts
        // runs project by project): the short files fill the end of the run.
        extends: true,
        test: { name: 'unit-modules', include: [UNIT], isolate: false },
      },
      {
        // The AWS stack's tests and the deployed-workflow tests read one synthesized stack (cdk-nag
        // and cfn-guard included, 30-50 s on a busy 2-core machine): without isolation the files
        // of a worker share it (test/infra/support/stack.ts memoizes it) instead of synthesizing
        // it once each. Each workflow file restores its AWS fakes and stops its DynamoDB in afterAll.
        extends: true,
        test: { name: 'infra', include: [INFRA, ...AWS_WORKFLOWS], isolate: false },
      },
    ],
  },
});
