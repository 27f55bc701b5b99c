import { isEntryPoint, main } from '#shared/jobs/job-process.ts';

/**
 * The dump job: the engine's dump tool piped into zstd or gzip, streamed into an S3 multipart
 * upload. Importing this module gives `runDump`; running it
 * (`node --import tsx functions/jobs/dump.ts '<spec JSON>'`) runs the dump the spec describes,
 * like `main.ts` but refusing other kinds of job.
 */
export {
  type DumpJobResult,
  type DumpOptions,
  type DumpProgress,
  runDump,
  type S3Target,
} from '#shared/jobs/dump.ts';
export { planUpload, type UploadPlan } from '#shared/jobs/upload-plan.ts';

if (isEntryPoint(import.meta.url)) main('dump');
