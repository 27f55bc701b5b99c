import type { AwsCall, CallEnvironment, Permission } from './iam.ts';
import { FAKE_ENV } from './intrinsics.ts';

const arn = (service: string, resource: string) =>
  `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;
const via = (service: string) => ({ 'kms:ViaService': `${service}.${FAKE_ENV.region}.amazonaws.com` });

/**
 * The workflow role's point-in-time actions: aws-pitr-workflows.test.ts sends and checks them; the
 * other workflow tests leave them out of their "nothing unused" checks.
 */
export const PITR_WORKFLOW_ACTIONS: readonly string[] = [
  'rds:RestoreDBInstanceToPointInTime',
  'rds:DescribeDBInstanceAutomatedBackups',
];

/**
 * What the API functions (addons: GET shows the window; backups: the restore checks it) may send
 * for point-in-time windows: aws-pitr-workflows.test.ts checks them against both roles.
 */
export const PITR_WINDOW_ACTIONS: readonly string[] = [
  'rds:DescribeDBInstances',
  'rds:DescribeDBInstanceAutomatedBackups',
];

type PermissionOf = (
  action: string,
  resource: string,
  context?: Record<string, string | string[]>,
) => Permission;

/**
 * RDS point-in-time calls: RestoreDBInstanceToPointInTime is authorized on the target instance, the
 * source (an instance, or the retained automated backups of a deleted one) and what it references,
 * like a snapshot restore; DescribeDBInstanceAutomatedBackups on automated backups (`auto-backup:`,
 * named by RDS). Undefined for other calls.
 */
export const rdsPitrPermissions = (
  call: AwsCall,
  env: CallEnvironment,
  permission: PermissionOf,
  requestTags: Record<string, string | string[]>,
): Permission[] | undefined => {
  const { input } = call;
  const action = `rds:${call.command}`;
  if (call.command === 'DescribeDBInstanceAutomatedBackups') {
    return [permission(action, arn('rds', 'auto-backup:ab-fake0example'))];
  }
  if (call.command !== 'RestoreDBInstanceToPointInTime') return undefined;
  const target = arn('rds', `db:${String(input.TargetDBInstanceIdentifier)}`);
  const source = input.SourceDBInstanceIdentifier
    ? arn('rds', `db:${String(input.SourceDBInstanceIdentifier)}`)
    : arn('rds', 'auto-backup:ab-fake0example');
  const engine = call.snapshotEngine?.engine ?? 'postgres';
  const major = (call.snapshotEngine?.version ?? '17').replace(/\./g, '-');
  return [
    permission(action, target, requestTags),
    permission(action, source, requestTags),
    permission(action, arn('rds', `subgrp:${String(input.DBSubnetGroupName)}`), requestTags),
    permission(action, arn('rds', `pg:${String(input.DBParameterGroupName)}`), requestTags),
    permission(action, arn('rds', `og:default:${engine}-${major}`), requestTags),
    ...(input.Tags ? [permission('rds:AddTagsToResource', target, requestTags)] : []),
    ...(env.storageKeyArn
      ? [
          permission('kms:CreateGrant', env.storageKeyArn, via('rds')),
          permission('kms:DescribeKey', env.storageKeyArn, via('rds')),
        ]
      : []),
  ];
};
