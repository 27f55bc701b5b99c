import * as z from 'zod/mini';
import { CompressionSchema } from './backup.ts';
import { EngineSchema } from './catalog.ts';
import { ProjectIdSchema, SafeIdSchema } from './common.ts';

const ArtifactSchema = z.object({ bucket: z.string(), key: z.string() });

/**
 * What a dump or restore job is told, as the JOB_SPEC environment variable of the Fargate task
 * (a child process locally). Connection details are not in it: the job reads them itself.
 */
/** What every job is told: which backup of which addon, where its artifact is. */
const JobTargetFields = {
  operationId: SafeIdSchema,
  projectId: ProjectIdSchema,
  addonId: SafeIdSchema,
  backupId: SafeIdSchema,
  engine: EngineSchema,
  artifact: ArtifactSchema,
  compression: CompressionSchema,
};

export const JobSpecSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('dump'),
    ...JobTargetFields,
    resultKey: z.string(),
    estimatedBytes: z.optional(z.number().check(z.int(), z.nonnegative())),
  }),
  z.object({
    kind: z.literal('restore'),
    ...JobTargetFields,
    /** Absent for an uploaded file whose SHA-256 the user did not give: then only its size is checked. */
    expectedSha256: z.optional(z.string()),
    /** An uploaded file may also be uncompressed. */
    compression: z.enum([...CompressionSchema.options, 'none']),
    /** What an uploaded file holds, detected from its contents; absent for a dump backup. */
    format: z.optional(z.enum(['pg-custom', 'pg-plain', 'mysql-sql'])),
  }),
  z.object({
    /**
     * A live import: the source database dumped straight into the restore (no artifact). The
     * source's connection string is read from the secret store by `sourceSecret`, never carried here.
     */
    kind: z.literal('live-import'),
    operationId: SafeIdSchema,
    projectId: ProjectIdSchema,
    addonId: SafeIdSchema,
    /** The import id (the restore workflow's `backupId`). */
    backupId: SafeIdSchema,
    engine: EngineSchema,
    sourceSecret: z.object({ projectId: ProjectIdSchema, addonId: SafeIdSchema }),
  }),
  z.object({
    /**
     * A credential rotation's change of logins, inside the instance (shared/jobs/login-job.ts).
     * No password here: the job reads the published connection details, the staged ones (add: the
     * pending version `stagedToken`) and the platform's admin login from the secret store.
     */
    kind: z.literal('login'),
    operationId: SafeIdSchema,
    projectId: ProjectIdSchema,
    addonId: SafeIdSchema,
    engine: EngineSchema,
    action: z.enum(['add', 'retain']),
    /** The customer's own user, the first of the alternating pair. */
    owner: z.string().check(z.minLength(1), z.maxLength(63)),
    stagedToken: z.optional(z.string().check(z.minLength(32), z.maxLength(64))),
    /**
     * Retain after a physical copy (a snapshot or point-in-time restore, a fork seeded from one):
     * its logins are those of another time, and the workflow has just given the master user
     * (`owner`) the published password through the provider. The platform's admin role, if the
     * copy lacks it or holds it with another password, is made on that login.
     */
    masterReset: z.optional(z.literal(true)),
  }),
]);
export type JobSpec = z.infer<typeof JobSpecSchema>;

/** Where jobs run: the ECS RunTask parameters the state machine passes on (ignored locally but for `command`). */
export interface JobLaunchConfig {
  cluster: string;
  taskDefinition: string;
  container: string;
  subnets: string[];
  /** Security groups every job runs with (AWS: HTTPS to the VPC endpoints). */
  securityGroups: string[];
  /**
   * AWS: a job also runs with the addon's project client group, the only source its database
   * admits; an addon without one recorded cannot be reached, and the job is refused up front.
   * @default false (the local target has no security groups)
   */
  joinProjectClientGroup?: boolean;
}
