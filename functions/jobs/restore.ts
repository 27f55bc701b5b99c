import { isEntryPoint, main } from '#shared/jobs/job-process.ts';

/**
 * The restore job: an S3 dump artifact, checksum-verified on the fly, restored over the database
 * all or nothing by the engine's dump tool. Importing this module gives `runRestore`; running it runs the restore the
 * spec (argument or JOB_SPEC) describes.
 */
export {
  type RestoreJobResult,
  type RestoreOptions,
  type RestoreProgress,
  runRestore,
} from '#shared/jobs/restore.ts';

if (isEntryPoint(import.meta.url)) main('restore');
