import '#shared/util/polyfills.ts';
import { isEntryPoint, main } from '#shared/jobs/job-process.ts';

/**
 * The dump/restore job entry point: the Fargate task's command on AWS (`node jobs/main.mjs`),
 * a child process locally (infra/local/job-runner.ts). The spec comes in JOB_SPEC; connection
 * details are read by the job itself, so they never travel through workflow state. The logic is
 * in shared/jobs/job-process.ts; `dump.ts` and `restore.ts` are the single-kind entry points.
 */
if (isEntryPoint(import.meta.url)) main();
