import '#shared/util/polyfills.ts';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { errorMessage } from '#shared/errors.ts';
import { runDump } from '#shared/jobs/dump.ts';
import { runRestore } from '#shared/jobs/restore.ts';
import { createJobS3Client } from '#shared/jobs/s3-client.ts';
import type { SecretStore } from '#shared/ports/secret-store.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { JobSpecSchema } from '#shared/schemas/job.ts';

/**
 * The dump/restore job entry point: the Fargate task's command on AWS, a child process locally
 * (infra/local/job-runner.ts). The spec comes in JOB_SPEC; connection details are read here,
 * from Secrets Manager or the local secret store, so they never travel through workflow state.
 * Logs are JSON lines; the exit code is what `ecs:runTask.sync` reports.
 */
const JobEnvSchema = z.object({
  JOB_SPEC: z.string().min(2),
  /** AWS: the secret name prefix; locally ADDONS_SECRETS_DIR instead. */
  SECRET_NAME_PREFIX: z.string().optional(),
  ADDONS_SECRETS_DIR: z.string().optional(),
  /** Locally: the S3 emulator. */
  ADDONS_S3_ENDPOINT: z.string().optional(),
  /** Where pg_dump/pg_restore are, when not under /usr/lib/postgresql/<major>/bin or on PATH. */
  ADDONS_PG_BIN_DIR: z.string().optional(),
});

const log = (level: 'info' | 'error', message: string, extra: Record<string, unknown> = {}) => {
  const line = JSON.stringify({ level, time: new Date().toISOString(), message, ...extra });
  if (level === 'error') console.error(line);
  else console.info(line);
};

const secretStoreFrom = (env: z.infer<typeof JobEnvSchema>): SecretStore => {
  if (env.ADDONS_SECRETS_DIR) return new FileSecretStore(env.ADDONS_SECRETS_DIR);
  if (env.SECRET_NAME_PREFIX) {
    return new SecretsManagerStore({ client: new SecretsManagerClient({}), prefix: env.SECRET_NAME_PREFIX });
  }
  throw new Error(
    'Neither SECRET_NAME_PREFIX nor ADDONS_SECRETS_DIR is set: the job cannot read connection details',
  );
};

export const main = async (rawEnv: NodeJS.ProcessEnv = process.env): Promise<void> => {
  const env = JobEnvSchema.parse(rawEnv);
  const spec = JobSpecSchema.parse(JSON.parse(env.JOB_SPEC));
  const connection = await secretStoreFrom(env).get(spec);
  if (!connection?.host) throw new Error(`No connection details for addon ${spec.addonId}`);
  const client = createJobS3Client(env.ADDONS_S3_ENDPOINT);
  const controller = new AbortController();
  // Step Functions stops the task (SIGTERM) when the execution is stopped: abort cleanly.
  process.once('SIGTERM', () => controller.abort(new Error('The job was stopped')));
  const s3 = { client, bucket: spec.artifact.bucket, key: spec.artifact.key };
  const tools = env.ADDONS_PG_BIN_DIR ? { pgBinDir: env.ADDONS_PG_BIN_DIR } : undefined;
  log('info', `${spec.kind} started`, { backupId: spec.backupId, operationId: spec.operationId });
  if (spec.kind === 'dump') {
    const result = await runDump({
      connection,
      engine: spec.engine,
      s3,
      compression: spec.compression,
      estimatedBytes: spec.estimatedBytes,
      signal: controller.signal,
      tools,
      onProgress: (progress) => log('info', 'dump progress', { ...progress }),
    });
    // The workflow reads this beside the artifact to record size and SHA-256.
    await client.send(
      new PutObjectCommand({
        Bucket: spec.artifact.bucket,
        Key: spec.resultKey,
        Body: JSON.stringify({
          sizeBytes: result.sizeBytes,
          sha256: result.sha256,
          compression: result.compression,
          toolVersion: result.toolVersion,
        }),
        ContentType: 'application/json',
      }),
    );
    log('info', 'dump completed', { sizeBytes: result.sizeBytes, sha256: result.sha256 });
  } else {
    const result = await runRestore({
      connection,
      engine: spec.engine,
      s3,
      compression: spec.compression,
      expectedSha256: spec.expectedSha256,
      signal: controller.signal,
      tools,
      onProgress: (progress) => log('info', 'restore progress', { ...progress }),
    });
    log('info', 'restore completed', { sizeBytes: result.sizeBytes, verified: result.verified });
  }
  client.destroy();
};

const isEntryPoint =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'));
if (isEntryPoint) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      log('error', 'job failed', { error: errorMessage(error) });
      process.exit(1);
    },
  );
}
