import { resolve } from 'node:path';
import * as z from 'zod/mini';
import type { RateLimitConfig } from '#shared/api/rate-limit.ts';
import { RateLimitBurstEnv, RateLimitPerSecondEnv, UploadEnvSchema } from '#shared/config/env.ts';
import { DEFAULT_BACKUP_GRACE_DAYS } from '#shared/services/addon-retirement.ts';
import { QuotaFields, type Quotas } from '#shared/services/quotas.ts';

/** ADDONS_METRICS_INTERVAL_SECONDS unless set. */
export const DEFAULT_METRICS_INTERVAL_SECONDS = 10;

/** The local target's configuration, from the environment (README: Configuration). */
export const LocalConfigSchema = z.object({
  ADDONS_PORT: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65535)), 4000),
  ADDONS_HOST: z._default(z.string().check(z.minLength(1)), '127.0.0.1'),
  /** Where other machines reach a public addon; default: the machine's first external IPv4 address. */
  ADDONS_PUBLIC_HOST: z.optional(z.string().check(z.minLength(1), z.maxLength(253))),
  ADDONS_DATA_DIR: z._default(z.string().check(z.minLength(1)), '.addons'),
  ADDONS_TOKEN: z.optional(z.string().check(z.minLength(16, 'must be at least 16 characters'))),
  ADDONS_LOG_LEVEL: z._default(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']), 'WARN'),
  /** How long Wait states last locally (ms): engine processes are ready in well under a second. */
  ADDONS_WAIT_MS: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(60_000)), 200),
  /** How long ASL Retry intervals last locally (ms). */
  ADDONS_RETRY_MS: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(60_000)), 200),
  /** How fast the schedule and retention clock runs (tests: 3600 = an hour per second). */
  ADDONS_CLOCK_SPEED: z._default(z.coerce.number().check(z.minimum(1), z.maximum(1_000_000)), 1),
  /** How often the local scheduler checks for due schedules and expired backups (ms). */
  ADDONS_SCHEDULER_TICK_MS: z._default(
    z.coerce.number().check(z.int(), z.minimum(10), z.maximum(600_000)),
    15_000,
  ),
  /** How often archived addons are checked for a due base backup (PITR); a new addon's window waits for the first check. */
  ADDONS_PITR_MAINTENANCE_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(3_600)),
    30,
  ),
  /** How far back point-in-time recovery reaches (the WAL archive reads it too: wal-archive.ts). */
  ADDONS_PITR_RETENTION_DAYS: z._default(z.coerce.number().check(z.positive(), z.maximum(3_650)), 7),
  /** How often the platform samples each running addon's metrics (docs/metrics.md); 0 turns sampling off. */
  ADDONS_METRICS_INTERVAL_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(3_600)),
    DEFAULT_METRICS_INTERVAL_SECONDS,
  ),
  /**
   * Tests and benches only: the bytes one allocated GiB counts for the storage guard, so that a
   * test fills an addon's storage with megabytes (docs/scaling.md). Unset: 1073741824 (1 GiB).
   */
  ADDONS_STORAGE_GIB_BYTES: z.optional(
    z.coerce.number().check(z.int(), z.minimum(1024 * 1024), z.maximum(1024 ** 3)),
  ),
  /** Reconciler: per-type operation deadlines in minutes, `create=30,backup=1500` (defaults in reconciler-policy.ts). */
  ADDONS_OPERATION_DEADLINES: z.optional(z.string()),
  /** Reconciler: how long a pending operation may wait for its workflow before it is started again. */
  ADDONS_START_GRACE_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(86_400)),
    30,
  ),
  /** Reconciler: the youngest a leftover (engine directory, snapshot, secret, dump) may be when removed. */
  ADDONS_LEFTOVER_MIN_AGE_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(30 * 86_400)),
    600,
  ),
  /** Days a deleted addon's backups are kept before retention deletes them (pinned: until unpinned). */
  ADDONS_BACKUP_GRACE_DAYS: z._default(
    z.coerce.number().check(z.minimum(0), z.maximum(3650)),
    DEFAULT_BACKUP_GRACE_DAYS,
  ),
  /** Per-caller rate limit: steady requests per second, and how many at once. */
  ADDONS_RATE_LIMIT_PER_SECOND: RateLimitPerSecondEnv,
  ADDONS_RATE_LIMIT_BURST: RateLimitBurstEnv,
  /** Comma-separated origins whose browser pages may call the API (CORS); none by default. */
  ADDONS_CORS_ORIGINS: z.pipe(
    z._default(z.string(), ''),
    z.transform((text) =>
      text
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin.length > 0),
    ),
  ),
  /**
   * Import uploads: the largest file (bytes, default 100 GiB), the size above which a file is
   * uploaded in parts (default 5 GiB), the preferred part size (default 64 MiB).
   */
  ...UploadEnvSchema.shape,
  ADDONS_MAX_ADDONS_PER_PROJECT: QuotaFields.addonsPerProject,
  ADDONS_MAX_SCHEDULES_PER_ADDON: QuotaFields.schedulesPerAddon,
  ADDONS_MIN_SCHEDULE_INTERVAL_MINUTES: QuotaFields.minScheduleIntervalMinutes,
});

export interface LocalConfig {
  port: number;
  host: string;
  /** ADDONS_PUBLIC_HOST: the host in a public addon's connection details. */
  publicHost?: string;
  dataDir: string;
  token?: string;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  waitMs: number;
  retryMs: number;
  clockSpeed: number;
  schedulerTickMs: number;
  /** ADDONS_PITR_MAINTENANCE_SECONDS, in ms. */
  archiveMaintenanceMs: number;
  /** ADDONS_PITR_RETENTION_DAYS: what backup health holds the point-in-time window to. */
  pitrRetentionDays: number;
  /**
   * ADDONS_METRICS_INTERVAL_SECONDS: the rings' and the alerts' step. When the variable is 0, the
   * default (10), so that rings kept from earlier runs are still answered.
   */
  metricsIntervalSeconds: number;
  /** False when ADDONS_METRICS_INTERVAL_SECONDS is 0: no sampling rounds at all. */
  metricsSampling: boolean;
  backupGraceDays: number;
  /** ADDONS_STORAGE_GIB_BYTES (tests and benches only); unset: a real GiB. */
  storageGiBBytes?: number;
  /**
   * ADDONS_<ENGINE>_BIN_DIR variables (ADDONS_PG_BIN_DIR...): where an engine's client tools are,
   * passed as they are to the job processes, whose engine dump tools read them.
   */
  jobToolEnv: Record<string, string>;
  reconciler: { deadlines?: string; startGraceMs: number; leftoverMinAgeMs: number };
  rateLimit: RateLimitConfig;
  corsOrigins: string[];
  quotas: Quotas;
  /** The import upload size quota (bytes); default 100 GiB. */
  maxUploadBytes?: number;
  /** Files above this are uploaded in parts (tests lower it to exercise multipart uploads). */
  multipartThresholdBytes?: number;
  partSizeBytes?: number;
}

const ENGINE_TOOL_VARIABLE = /^ADDONS_[A-Z0-9]+_BIN_DIR$/;

/** The engine tool locations of `env`, for the job processes. */
const engineToolEnv = (env: NodeJS.ProcessEnv): Record<string, string> =>
  Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => ENGINE_TOOL_VARIABLE.test(entry[0]) && Boolean(entry[1]),
    ),
  );

export const loadLocalConfig = (env: NodeJS.ProcessEnv = process.env): LocalConfig => {
  const result = LocalConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.')} ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const parsed = result.data;
  return {
    port: parsed.ADDONS_PORT,
    host: parsed.ADDONS_HOST,
    ...(parsed.ADDONS_PUBLIC_HOST ? { publicHost: parsed.ADDONS_PUBLIC_HOST } : {}),
    dataDir: resolve(parsed.ADDONS_DATA_DIR),
    token: parsed.ADDONS_TOKEN,
    logLevel: parsed.ADDONS_LOG_LEVEL,
    waitMs: parsed.ADDONS_WAIT_MS,
    retryMs: parsed.ADDONS_RETRY_MS,
    clockSpeed: parsed.ADDONS_CLOCK_SPEED,
    schedulerTickMs: parsed.ADDONS_SCHEDULER_TICK_MS,
    archiveMaintenanceMs: parsed.ADDONS_PITR_MAINTENANCE_SECONDS * 1000,
    pitrRetentionDays: parsed.ADDONS_PITR_RETENTION_DAYS,
    metricsIntervalSeconds: parsed.ADDONS_METRICS_INTERVAL_SECONDS || DEFAULT_METRICS_INTERVAL_SECONDS,
    metricsSampling: parsed.ADDONS_METRICS_INTERVAL_SECONDS > 0,
    backupGraceDays: parsed.ADDONS_BACKUP_GRACE_DAYS,
    ...(parsed.ADDONS_STORAGE_GIB_BYTES ? { storageGiBBytes: parsed.ADDONS_STORAGE_GIB_BYTES } : {}),
    jobToolEnv: engineToolEnv(env),
    reconciler: {
      deadlines: parsed.ADDONS_OPERATION_DEADLINES,
      startGraceMs: parsed.ADDONS_START_GRACE_SECONDS * 1000,
      leftoverMinAgeMs: parsed.ADDONS_LEFTOVER_MIN_AGE_SECONDS * 1000,
    },
    rateLimit: { perSecond: parsed.ADDONS_RATE_LIMIT_PER_SECOND, burst: parsed.ADDONS_RATE_LIMIT_BURST },
    corsOrigins: parsed.ADDONS_CORS_ORIGINS,
    quotas: {
      addonsPerProject: parsed.ADDONS_MAX_ADDONS_PER_PROJECT,
      schedulesPerAddon: parsed.ADDONS_MAX_SCHEDULES_PER_ADDON,
      minScheduleIntervalMinutes: parsed.ADDONS_MIN_SCHEDULE_INTERVAL_MINUTES,
    },
    ...(parsed.ADDONS_MAX_UPLOAD_BYTES ? { maxUploadBytes: parsed.ADDONS_MAX_UPLOAD_BYTES } : {}),
    ...(parsed.ADDONS_MULTIPART_THRESHOLD_BYTES
      ? { multipartThresholdBytes: parsed.ADDONS_MULTIPART_THRESHOLD_BYTES }
      : {}),
    ...(parsed.ADDONS_UPLOAD_PART_BYTES ? { partSizeBytes: parsed.ADDONS_UPLOAD_PART_BYTES } : {}),
  };
};
