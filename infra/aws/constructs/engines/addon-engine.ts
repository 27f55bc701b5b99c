import { Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import type { Engine } from '#shared/schemas/catalog.ts';

/** What one engine contributes to the workflow function's environment. */
export interface EngineEnvironment {
  /** Parameter group key (the major) -> parameter group forcing TLS. */
  tlsParameterGroups?: Record<string, string>;
  /** Parameter group key (the major) -> parameter group accepting plain connections. */
  noTlsParameterGroups?: Record<string, string>;
  /** Variables of the workflow function's own (`WorkflowFunctionEnvSchema`), e.g. a subnet group name. */
  variables?: Record<string, string>;
}

/**
 * One engine's share of the stack (one construct per engine under this folder): what it creates
 * once, the permissions its adapters need, and the environment they read. The stack composes
 * them from one list; the functions never branch on the engine.
 */
export interface AddonEngine extends IConstruct {
  readonly engine: Engine;
  /** The port its addons listen on (the deployment's bastion may reach it inside the VPC). */
  readonly port: number;
  /** Everything the engine's provisioning and snapshot adapters send (the workflow function). */
  grantProvisioning(grantee: iam.IGrantable): void;
  /** Delete the engine's snapshot backups (the backups API, the retention sweep). */
  grantSnapshotDeletion(grantee: iam.IGrantable): void;
  /**
   * Read addons' point-in-time windows (the API functions), where the engine offers `pitr` on AWS;
   * engines without point-in-time recovery have none.
   */
  grantRestorableWindowRead?(grantee: iam.IGrantable): void;
  /**
   * Read the downloadable copies of the engine's snapshots where they are kept outside the backup
   * bucket (download links are presigned with the backups API's role). Engines whose snapshots
   * cannot be downloaded have none.
   */
  grantSnapshotDownload?(grantee: iam.IGrantable): void;
  readonly environment: EngineEnvironment;
  /**
   * The job container's variables for this engine's dump tool: how its connections verify the
   * server's certificate against `caBundle` (a path in the job image).
   */
  jobEnvironment(caBundle: string): Record<string, string>;
}

/**
 * The workflow function's engine-keyed variables (`WorkflowFunctionEnvSchema`), from every
 * engine's contribution: `{"<engine>":{"<major>":"<parameter group>",...},...}`.
 */
export const engineEnvironment = (scope: IConstruct, engines: readonly AddonEngine[]) => {
  const byEngine = (pick: (environment: EngineEnvironment) => Record<string, string> | undefined) =>
    Object.fromEntries(
      engines.flatMap((engine) => {
        const value = pick(engine.environment);
        return value ? [[engine.engine, value]] : [];
      }),
    );
  const stack = Stack.of(scope);
  return {
    ...Object.assign({}, ...engines.map((engine) => engine.environment.variables ?? {})),
    TLS_PARAMETER_GROUPS: stack.toJsonString(byEngine((environment) => environment.tlsParameterGroups)),
    NO_TLS_PARAMETER_GROUPS: stack.toJsonString(byEngine((environment) => environment.noTlsParameterGroups)),
  };
};
