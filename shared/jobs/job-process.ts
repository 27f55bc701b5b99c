import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod/mini';
import { parseEnv } from '../config/env.ts';
import { errorMessage, PlatformError, ProviderError } from '../errors.ts';
import type { ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import { FileSecretStore } from '../providers/local/file-secret-store.ts';
import { CredentialsSchema } from '../schemas/addon.ts';
import { type JobSpec, JobSpecSchema } from '../schemas/job.ts';
import { platformLoginRef } from '../services/platform-login.ts';
import { runDump } from './dump.ts';
import { runLiveImport } from './live-import.ts';
import { loginToolFor } from './login-job.ts';
import { cpuSeconds } from './processes.ts';
import { runRestore } from './restore.ts';
import { createJobS3Client } from './s3-client.ts';

/**
 * The environment of a job process: the Fargate task definition on AWS, the local job runner's
 * child process locally. Connection details never travel in the spec: the job reads them from
 * Secrets Manager (SECRET_NAME_PREFIX), the local secret store (ADDONS_SECRETS_DIR) or, for a
 * job run by hand, one JSON file (ADDONS_CONNECTION_FILE).
 */
export const JobEnvSchema = z.object({
  /** The JobSpec as JSON; a JSON argument on the command line takes precedence. */
  JOB_SPEC: z.optional(z.string().check(z.minLength(1))),
  ADDONS_CONNECTION_FILE: z.optional(z.string().check(z.minLength(1))),
  ADDONS_SECRETS_DIR: z.optional(z.string().check(z.minLength(1))),
  SECRET_NAME_PREFIX: z.optional(z.string().check(z.minLength(1))),
  /** The S3 emulator's endpoint (local target); unset on AWS. */
  ADDONS_S3_ENDPOINT: z.optional(z.url()),
  ADDONS_LOG_LEVEL: z._default(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']), 'INFO'),
  // Where an engine's client tools are (ADDONS_<ENGINE>_BIN_DIR) is read by that engine's dump
  // tool (shared/jobs/<engine>/), not here.
});
export type JobEnv = z.infer<typeof JobEnvSchema>;

type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<JobEnv['ADDONS_LOG_LEVEL'], number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, SILENT: 4 };
const LEVEL_RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One JSON object per line on stdout: CloudWatch Logs on AWS, the job runner's tail locally. */
export type JobLog = (level: Level, message: string, fields?: Record<string, unknown>) => void;

const jsonLinesLog =
  (threshold: JobEnv['ADDONS_LOG_LEVEL'], context: Record<string, unknown>): JobLog =>
  (level, message, fields = {}) => {
    if (LEVEL_RANK[level] < RANK[threshold]) return;
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, message, ...context, ...fields })}\n`,
    );
  };

const secretStoreFor = async (env: JobEnv): Promise<SecretStore | undefined> => {
  if (env.ADDONS_SECRETS_DIR) return new FileSecretStore(env.ADDONS_SECRETS_DIR);
  if (env.SECRET_NAME_PREFIX) {
    // Loaded only on AWS: the local job process stays smaller without it.
    const [{ SecretsManagerClient }, { SecretsManagerStore }] = await Promise.all([
      import('@aws-sdk/client-secrets-manager'),
      import('../providers/aws/secrets-manager-store.ts'),
    ]);
    return new SecretsManagerStore({ client: new SecretsManagerClient({}), prefix: env.SECRET_NAME_PREFIX });
  }
  return undefined;
};

const loadConnection = async (env: JobEnv, spec: JobSpec): Promise<ConnectionSecret> => {
  if (env.ADDONS_CONNECTION_FILE) {
    return CredentialsSchema.parse(JSON.parse(await readFile(env.ADDONS_CONNECTION_FILE, 'utf8')));
  }
  const store = await secretStoreFor(env);
  if (!store) {
    throw new ProviderError(
      'The job has no connection details source: set ADDONS_CONNECTION_FILE, ADDONS_SECRETS_DIR or SECRET_NAME_PREFIX',
      'Misconfigured',
    );
  }
  const secret = await store.get({ projectId: spec.projectId, addonId: spec.addonId });
  if (!secret) {
    throw new ProviderError(`Addon ${spec.addonId} has no connection details`, 'NoConnectionDetails');
  }
  if (!secret.host || !secret.port) {
    throw new ProviderError(`Addon ${spec.addonId} has no endpoint yet`, 'NoConnectionDetails');
  }
  return secret;
};

const parseSpec = (argv: string[], env: JobEnv): JobSpec => {
  const text = argv.find((arg) => arg.trimStart().startsWith('{')) ?? env.JOB_SPEC;
  if (!text)
    throw new ProviderError('No job spec: pass it as JSON in JOB_SPEC or as the argument', 'Misconfigured');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ProviderError(`The job spec is not JSON: ${errorMessage(error)}`, 'Misconfigured');
  }
  const parsed = JobSpecSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ProviderError(`Invalid job spec: ${problems.join('; ')}`, 'Misconfigured');
  }
  return parsed.data;
};

/** Not more than one progress line per interval. */
const throttled = <T>(intervalMs: number, emit: (value: T) => void) => {
  let last = 0;
  return (value: T) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    emit(value);
  };
};

export interface JobRunContext {
  spec: JobSpec;
  env: JobEnv;
  s3: S3Client;
  signal: AbortSignal;
  log: JobLog;
}

/**
 * A credential rotation's login change: the staged credentials (add) and the platform's admin
 * login read by reference, never from the spec or the environment. Reports users only.
 */
const runLoginJob = async (
  env: JobEnv,
  spec: Extract<JobSpec, { kind: 'login' }>,
  published: ConnectionSecret,
): Promise<Record<string, unknown>> => {
  const store = await secretStoreFor(env);
  const admin = await store?.get(platformLoginRef(spec));
  if (!admin) {
    throw new ProviderError(`Addon ${spec.addonId} has no platform login recorded`, 'NoConnectionDetails');
  }
  let next: ConnectionSecret | undefined;
  if (spec.action === 'add') {
    next = spec.stagedToken ? await store?.staged?.(spec, spec.stagedToken) : undefined;
    if (!next) {
      throw new ProviderError(
        `The staged credentials of operation ${spec.operationId} are gone (the rotation ended)`,
        'NoStagedCredentials',
      );
    }
  }
  const result = await loginToolFor(spec.engine).run({
    action: spec.action,
    owner: spec.owner,
    published,
    admin,
    ...(next ? { next } : {}),
    ...(spec.masterReset ? { masterReset: true } : {}),
  });
  return { ...result };
};

/** Runs one job to completion; the result is what the job reports (and, for a dump, stores). */
export const executeJob = async ({
  spec,
  env,
  s3,
  signal,
  log,
}: JobRunContext): Promise<Record<string, unknown>> => {
  const connection = await loadConnection(env, spec);
  switch (spec.kind) {
    case 'dump': {
      const result = await runDump({
        connection,
        engine: spec.engine,
        s3: { client: s3, bucket: spec.artifact.bucket, key: spec.artifact.key },
        compression: spec.compression,
        estimatedBytes: spec.estimatedBytes,
        signal,
        onProgress: throttled(5000, (progress) => log('info', 'dump progress', { ...progress })),
      });
      // What BackupArtifacts.readResult reads back for the workflow's completeDump step.
      await s3.send(
        new PutObjectCommand({
          Bucket: spec.artifact.bucket,
          Key: spec.resultKey,
          Body: JSON.stringify(result),
          ContentType: 'application/json',
        }),
      );
      return { ...result };
    }
    case 'restore': {
      const result = await runRestore({
        connection,
        engine: spec.engine,
        s3: { client: s3, bucket: spec.artifact.bucket, key: spec.artifact.key },
        compression: spec.compression,
        ...(spec.format ? { format: spec.format } : {}),
        expectedSha256: spec.expectedSha256,
        restoreId: spec.operationId,
        signal,
        onProgress: throttled(5000, (progress) => log('info', 'restore progress', { ...progress })),
      });
      return { ...result };
    }
    case 'live-import': {
      // The source's connection string, by the reference in the spec: read here, never logged.
      const store = await secretStoreFor(env);
      const source = await store?.get(spec.sourceSecret);
      if (!source) {
        throw new ProviderError(
          `The connection string of import ${spec.backupId} is gone (the import ended or expired)`,
          'NoConnectionDetails',
        );
      }
      return {
        ...(await runLiveImport({
          connection,
          source,
          engine: spec.engine,
          restoreId: spec.operationId,
          signal,
        })),
      };
    }
    case 'login':
      return runLoginJob(env, spec, connection);
    default: {
      const exhaustive: never = spec;
      throw new ProviderError(`Unknown job ${JSON.stringify(exhaustive)}`);
    }
  }
};

const errorFields = (error: unknown) => ({
  error: errorMessage(error),
  errorName: error instanceof Error ? error.name : 'Error',
  ...(error instanceof ProviderError ? { errorCode: error.code } : {}),
});

/**
 * The job's process: parses the spec and environment, runs the job, logs JSON lines, and exits
 * 0 on success, 1 on failure, 128+n when stopped by signal n (ECS sends SIGTERM when a task is
 * stopped, the local runner too when an operation is aborted): the job then kills its children
 * and aborts its multipart upload before exiting. The last line carries the peak RSS.
 */
export const runJobProcess = async (only?: JobSpec['kind']): Promise<number> => {
  let env: JobEnv;
  let spec: JobSpec;
  let launchedAt: string;
  try {
    const launched = await awaitJobEnvironment();
    if (!launched) return 0;
    launchedAt = launched;
    env = parseEnv(JobEnvSchema);
    spec = parseSpec(process.argv.slice(2), env);
    if (only && spec.kind !== only) {
      throw new ProviderError(
        `This entry point runs ${only} jobs, the spec is a ${spec.kind}`,
        'Misconfigured',
      );
    }
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ level: 'error', message: 'job not started', ...errorFields(error) })}\n`,
    );
    return 1;
  }
  const log = jsonLinesLog(env.ADDONS_LOG_LEVEL, { job: spec.kind, operationId: spec.operationId });
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy ??= signal;
    log('warn', `received ${signal}: stopping`);
    controller.abort(new Error(`the job process received ${signal}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const orphaned = watchParent(() => {
    log('warn', 'the process that started the job is gone: stopping');
    onSignal('SIGTERM');
  });
  const s3 = createJobS3Client(env.ADDONS_S3_ENDPOINT);
  log(
    'info',
    `${spec.kind} started`,
    spec.kind === 'live-import'
      ? { importId: spec.backupId, launchedAt }
      : spec.kind === 'login'
        ? { action: spec.action, launchedAt }
        : { artifact: spec.artifact, compression: spec.compression, launchedAt },
  );
  try {
    const result = await executeJob({ spec, env, s3, signal: controller.signal, log });
    log('info', `${spec.kind} completed`, {
      result,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      cpuSeconds: await cpuSeconds(),
    });
    return 0;
  } catch (error) {
    log('error', `${spec.kind} failed`, {
      ...errorFields(error),
      retryable: !(error instanceof PlatformError) || error.name === 'TransientError',
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    });
    return stoppedBy ? 128 + (stoppedBy === 'SIGINT' ? 2 : 15) : 1;
  } finally {
    clearInterval(orphaned);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    s3.destroy();
  }
};

/**
 * When the job was launched: its process's start, so the time until the `started` line is the
 * job's own start-up. A process started ahead of its job (the local job runner's standby,
 * ADDONS_JOB_STANDBY=1) has loaded its code already and waits for the job's environment, one JSON
 * line of variables on stdin (the container overrides), merged into its own; it was launched when
 * that line came. Stdin closing first means no job came (the platform stopped): undefined.
 */
const awaitJobEnvironment = async (): Promise<string | undefined> => {
  if (process.env.ADDONS_JOB_STANDBY !== '1') return new Date(performance.timeOrigin).toISOString();
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  const line = text.split('\n')[0]?.trim();
  if (!line) return undefined;
  const launchedAt = new Date().toISOString();
  const vars = z.record(z.string(), z.string()).parse(JSON.parse(line));
  delete process.env.ADDONS_JOB_STANDBY;
  Object.assign(process.env, vars);
  return launchedAt;
};

const PARENT_CHECK_MS = 250;

/**
 * Calls `onGone` once the process that started this one has exited. Locally that is the platform:
 * a SIGKILLed platform runs no cleanup, and its job would otherwise keep writing (a restore into a
 * database the restarted platform restores again). The kernel re-parents an orphan, so its parent
 * pid changes; on Fargate the job is the container's init and its parent never changes.
 */
export const watchParent = (onGone: () => void): NodeJS.Timeout => {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, PARENT_CHECK_MS);
  timer.unref();
  return timer;
};

/** True when the module at `moduleUrl` is the process's entry point (not merely imported). */
export const isEntryPoint = (moduleUrl: string): boolean => {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
};

/**
 * Runs the job process and exits with its status: normally when nothing is left to do (stdout
 * flushed), at the latest shortly after, so a stray handle cannot keep a Fargate task running.
 */
export const main = (only?: JobSpec['kind']): void => {
  void runJobProcess(only).then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 2000).unref();
  });
};
