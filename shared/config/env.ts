import * as z from 'zod/mini';
// English messages for zod/mini: every function and job reads its environment here first.
import '../schemas/meta.ts';
import { DEFAULT_RATE_LIMIT } from '../api/rate-limit.ts';
import { EngineSchema } from '../schemas/catalog.ts';
import { MAX_PART_BYTES, MAX_UPLOAD_BYTES, MIN_PART_BYTES, SINGLE_PUT_MAX_BYTES } from '../schemas/import.ts';
import { QuotaFields } from '../services/quotas.ts';

/**
 * One zod schema per function's environment: validated once at cold start, and the same
 * schema types the CDK `environment` prop, so a missing variable fails `tsc`, not a request.
 */
export const CommonEnvSchema = z.object({
  POWERTOOLS_SERVICE_NAME: z._default(z.string(), 'addons'),
  ADDONS_TARGET: z._default(z.enum(['aws', 'local']), 'aws'),
});

export const TableEnvSchema = z.object({ TABLE_NAME: z.string().check(z.minLength(1)) });
export const SecretsEnvSchema = z.object({
  SECRET_NAME_PREFIX: z.string().check(z.minLength(1)),
  SECRETS_KMS_KEY_ID: z.optional(z.string().check(z.minLength(1))),
});

/** The Secrets Manager secret whose value signs pagination cursors (read once per cold start). */
export const CursorEnvSchema = z.object({ CURSOR_SECRET_ARN: z.string().check(z.minLength(1)) });

/** A per-caller rate limit from the environment: steady requests per second, and how many at once. */
export const RateLimitPerSecondEnv = z._default(
  z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100_000)),
  DEFAULT_RATE_LIMIT.perSecond,
);
export const RateLimitBurstEnv = z._default(
  z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1_000_000)),
  DEFAULT_RATE_LIMIT.burst,
);

/** The per-caller rate limit every API function applies (README: rate limits). */
export const ApiEnvSchema = z.extend(CommonEnvSchema, {
  API_RATE_LIMIT_PER_SECOND: RateLimitPerSecondEnv,
  API_RATE_LIMIT_BURST: RateLimitBurstEnv,
});

export const MetaFunctionEnvSchema = z.extend(ApiEnvSchema, {
  /** Where swagger-ui's files are; unset locally (node_modules), beside the bundle on Lambda. */
  DOCS_ASSETS_DIR: z.optional(z.string().check(z.minLength(1))),
});
export const CatalogFunctionEnvSchema = ApiEnvSchema;
export const CredentialsFunctionEnvSchema = z.extend(ApiEnvSchema, {
  ...TableEnvSchema.shape,
  ...SecretsEnvSchema.shape,
  /** Secret groups and external services list with cursors. */
  ...CursorEnvSchema.shape,
  /** Credential rotations where the engine takes minutes (ElastiCache): credential-rotation.ts. */
  ROTATE_CREDENTIALS_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
});
/** What mirrors alert rules as CloudWatch alarms and SNS topics (shared/providers/aws/cloudwatch-alarms.ts). */
export const AlertAlarmsEnvSchema = z.object({
  DEPLOYMENT_NAME: z.string().check(z.minLength(1)),
  /** `arn:<partition>:sns:<region>:<account>:`: a rule's topic ARN is this and its name. */
  ALERT_TOPIC_ARN_PREFIX: z.string().check(z.minLength(1)),
  ALERT_NOTIFY_FUNCTION_ARN: z.string().check(z.minLength(1)),
  ALERT_TOPIC_KEY_ARN: z.string().check(z.minLength(1)),
});
export const OperationsFunctionEnvSchema = z.extend(ApiEnvSchema, {
  ...TableEnvSchema.shape,
  ...CursorEnvSchema.shape,
  ...AlertAlarmsEnvSchema.shape,
});
/** The function subscribed to alert rules' topics (functions/alerts/notify.ts). */
export const AlertNotifyFunctionEnvSchema = z.extend(CommonEnvSchema, {
  ...TableEnvSchema.shape,
  DEPLOYMENT_NAME: z.string().check(z.minLength(1)),
});

/** A comma-separated list (subnet or security group ids): CDK joins them, the function splits them. */
const CommaListSchema = z.pipe(
  z.string().check(z.minLength(1)),
  z.transform((text) => text.split(',').map((item) => item.trim())),
);

/** The backup bucket: dump artifacts under `dumps/`, downloadable snapshot copies under `snapshots/`. */
export const BackupBucketEnvSchema = z.object({ BACKUP_BUCKET: z.string().check(z.minLength(1)) });

/** Where dump and restore jobs run: the ECS RunTask parameters of `JobLaunchConfig`. */
export const JobLaunchEnvSchema = z.object({
  JOB_CLUSTER_ARN: z.string().check(z.minLength(1)),
  JOB_TASK_DEFINITION_ARN: z.string().check(z.minLength(1)),
  JOB_CONTAINER_NAME: z.string().check(z.minLength(1)),
  JOB_SUBNET_IDS: CommaListSchema,
  /** The job group (HTTPS to the VPC endpoints); each job also joins its addon's project client group. */
  JOB_SECURITY_GROUP_IDS: CommaListSchema,
});

/**
 * `{"postgresql":{"17":"name",...},"mysql":{"8.4":"name",...}}`: engine -> parameter group key
 * (the major) -> parameter group name. CDK writes it from the parameter groups each engine's
 * construct creates (infra/aws/constructs/engines/); an engine absent from it has none.
 */
const EngineParameterGroupsSchema = z.pipe(
  z.pipe(
    z.string(),
    z.transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: 'must be a JSON object', input: text });
        return z.NEVER;
      }
    }),
  ),
  z.partialRecord(EngineSchema, z.record(z.string(), z.string())),
);

export const WorkflowFunctionEnvSchema = z.extend(CommonEnvSchema, {
  ...TableEnvSchema.shape,
  ...SecretsEnvSchema.shape,
  /** Tagged on everything the workflows create; the function's IAM conditions match on it. */
  DEPLOYMENT_NAME: z.string().check(z.minLength(1)),
  VPC_ID: z.string().check(z.minLength(1)),
  /** Project client groups may reach addon ports inside this CIDR only. */
  VPC_CIDR: z.string().check(z.minLength(1)),
  /** The bastion's group (`-c bastion=true`): every new addon group admits it; unset: no bastion. */
  BASTION_SECURITY_GROUP_ID: z.optional(z.string().check(z.minLength(1))),
  DB_SUBNET_GROUP_NAME: z.string().check(z.minLength(1)),
  /**
   * The DB subnet group over the public subnets, where RDS addons (PostgreSQL, MySQL) are created so
   * that one can be made public in place; unset: they go to DB_SUBNET_GROUP_NAME and stay private.
   */
  RDS_SUBNET_GROUP_NAME: z.optional(z.string().check(z.minLength(1))),
  /** ElastiCache subnet group of Redis addons (the same isolated subnets); unset: no Redis addons. */
  CACHE_SUBNET_GROUP_NAME: z.optional(z.string().check(z.minLength(1))),
  /** Where ElastiCache exports Redis snapshots (downloadable RDB files); unset: to `exportTo`'s bucket. */
  REDIS_EXPORT_BUCKET: z.optional(z.string().check(z.minLength(1))),
  /** The deployment's disabled `default` ElastiCache user, in every Redis addon's user group. */
  REDIS_DEFAULT_USER_ID: z.optional(z.string().check(z.minLength(1))),
  STORAGE_KMS_KEY_ID: z.string().check(z.minLength(1)),
  /** Per engine and major, the parameter group an addon gets: forcing TLS (the default)... */
  TLS_PARAMETER_GROUPS: EngineParameterGroupsSchema,
  /** ...or accepting plain connections (an addon created with `tls: false`). */
  NO_TLS_PARAMETER_GROUPS: EngineParameterGroupsSchema,
  ...BackupBucketEnvSchema.shape,
  ...JobLaunchEnvSchema.shape,
  /** Deleting an addon deletes its EventBridge Scheduler schedules, in this group. */
  SCHEDULE_GROUP_NAME: z.string().check(z.minLength(1)),
  /**
   * Live-import jobs run here instead (subnets routed through the NAT gateway, the group with
   * egress to database ports); unset: live imports run like the other jobs (no internet route).
   */
  LIVE_IMPORT_SUBNET_IDS: z.optional(CommaListSchema),
  LIVE_IMPORT_SECURITY_GROUP_IDS: z.optional(CommaListSchema),
  /** Days a deleted addon's backups are kept before retention deletes them (pinned: until unpinned). */
  BACKUP_GRACE_DAYS: z._default(z.coerce.number().check(z.minimum(0), z.maximum(3650)), 7),
});

/**
 * Live imports keep their source's connection string in Secrets Manager (`<prefix><project>/<import>`);
 * without these, live imports are refused (422).
 */
export const LiveImportSecretsEnvSchema = z.object({
  SECRET_NAME_PREFIX: z.optional(z.string().check(z.minLength(1))),
  SECRETS_KMS_KEY_ID: z.optional(z.string().check(z.minLength(1))),
});

/** Import uploads: the size quota, and the size from which files are uploaded in parts. */
export const UploadEnvSchema = z.object({
  ADDONS_MAX_UPLOAD_BYTES: z.optional(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MAX_UPLOAD_BYTES)),
  ),
  ADDONS_MULTIPART_THRESHOLD_BYTES: z.optional(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(SINGLE_PUT_MAX_BYTES)),
  ),
  ADDONS_UPLOAD_PART_BYTES: z.optional(
    z.coerce.number().check(z.int(), z.minimum(MIN_PART_BYTES), z.maximum(MAX_PART_BYTES)),
  ),
});

export const AddonsFunctionEnvSchema = z.extend(ApiEnvSchema, {
  ...TableEnvSchema.shape,
  ...CursorEnvSchema.shape,
  /** A final backup's dump is named in this bucket (the function itself never writes there). */
  BACKUP_BUCKET: z.string().check(z.minLength(1)),
  PROVISION_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  DELETE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** `PATCH` of the plan, the storage or Multi-AZ (shared/services/scaling.ts). */
  SCALE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** `PATCH` of the read replicas (shared/services/replicas.ts). */
  UPDATE_REPLICAS_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** `PATCH` of `networking` (shared/services/networking.ts): RDS changes take minutes. */
  UPDATE_NETWORKING_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  MAX_ADDONS_PER_PROJECT: QuotaFields.addonsPerProject,
  // An addon created with `source.import` gets its import here (live: a secret; upload: a URL).
  ...LiveImportSecretsEnvSchema.shape,
  ...UploadEnvSchema.shape,
});

export const BackupsFunctionEnvSchema = z.extend(ApiEnvSchema, {
  ...TableEnvSchema.shape,
  ...LiveImportSecretsEnvSchema.shape,
  ...CursorEnvSchema.shape,
  MAX_SCHEDULES_PER_ADDON: QuotaFields.schedulesPerAddon,
  MIN_SCHEDULE_INTERVAL_MINUTES: QuotaFields.minScheduleIntervalMinutes,
  ...BackupBucketEnvSchema.shape,
  BACKUP_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  RESTORE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  EXPORT_BACKUP_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  UPGRADE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** EventBridge Scheduler: one group per deployment, one schedule per addon backup schedule. */
  SCHEDULE_GROUP_NAME: z.string().check(z.minLength(1)),
  /** The run-backup function every schedule invokes. */
  SCHEDULE_TARGET_ARN: z.string().check(z.minLength(1)),
  /** The role EventBridge Scheduler assumes to invoke it. */
  SCHEDULE_ROLE_ARN: z.string().check(z.minLength(1)),
  /** The SQS queue a firing goes to when it could not be delivered. */
  SCHEDULE_DEAD_LETTER_ARN: z.string().check(z.minLength(1)),
  ...UploadEnvSchema.shape,
});

export const RunBackupFunctionEnvSchema = z.extend(CommonEnvSchema, {
  ...TableEnvSchema.shape,
  ...BackupBucketEnvSchema.shape,
  BACKUP_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
});

export const SweepFunctionEnvSchema = z.extend(CommonEnvSchema, {
  ...TableEnvSchema.shape,
  ...LiveImportSecretsEnvSchema.shape,
  ...BackupBucketEnvSchema.shape,
});

/** Relays the events feed (the table's stream) to the deployment's EventBridge bus. */
export const EventsFunctionEnvSchema = z.extend(CommonEnvSchema, {
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
});

/** The reconciler: every workflow, every kind of resource the platform creates. */
export const ReconcileFunctionEnvSchema = z.extend(CommonEnvSchema, {
  ...TableEnvSchema.shape,
  ...BackupBucketEnvSchema.shape,
  SECRET_NAME_PREFIX: z.string().check(z.minLength(1)),
  /** The key secret groups' documents are created with when the sweep publishes one first. */
  SECRETS_KMS_KEY_ID: z.optional(z.string().check(z.minLength(1))),
  DEPLOYMENT_NAME: z.string().check(z.minLength(1)),
  VPC_ID: z.string().check(z.minLength(1)),
  SCHEDULE_GROUP_NAME: z.string().check(z.minLength(1)),
  PROVISION_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  DELETE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  BACKUP_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  RESTORE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  EXPORT_BACKUP_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  SCALE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  UPGRADE_ADDON_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  UPDATE_REPLICAS_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  UPDATE_NETWORKING_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** Also what retires credential rotations at their deadline (credential-rotation.ts). */
  ROTATE_CREDENTIALS_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
  /** Per-type deadlines in minutes, `create=240,backup=1560` (defaults in reconciler-policy.ts). */
  OPERATION_DEADLINES: z.optional(z.string()),
  START_GRACE_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 300),
  LEFTOVER_MIN_AGE_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 3600),
  /** The bastion's group (`-c bastion=true`): every addon group admits it; unset, none does. */
  BASTION_SECURITY_GROUP_ID: z.optional(z.string().check(z.minLength(1))),
  ...z.omit(AlertAlarmsEnvSchema, { DEPLOYMENT_NAME: true }).shape,
});

export type EnvInput<S extends z.ZodMiniObject> = z.input<S>;

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

export const parseEnv = <S extends z.ZodMiniObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> => {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigurationError(`Invalid function environment: ${problems.join('; ')}`);
  }
  return result.data;
};
