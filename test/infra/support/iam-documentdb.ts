import type { AwsCall, CallEnvironment, Permission } from './iam.ts';
import { FAKE_ENV } from './intrinsics.ts';

const arn = (service: string, resource: string) =>
  `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;
const via = (service: string) => ({ 'kms:ViaService': `${service}.${FAKE_ENV.region}.amazonaws.com` });
/** The tags of an existing resource, under a condition key prefix. */
const resourceTagContext = (prefix: string, tags: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(tags ?? {}).map(([key, value]) => [`${prefix}${key}`, value]));

/**
 * The role actions only DocumentDB calls need: the MongoDB tests check that each is used
 * (aws-mongodb-lifecycle.test.ts), the other engines' tests leave them out of theirs.
 */
export const DOCUMENTDB_ACTIONS: readonly string[] = [
  'rds:CreateDBCluster',
  'rds:CreateDBClusterSnapshot',
  'rds:DeleteDBCluster',
  'rds:DeleteDBClusterSnapshot',
  'rds:DescribeDBClusterSnapshots',
  'rds:DescribeDBClusters',
  'rds:ListTagsForResource',
  'rds:ModifyDBCluster',
  'rds:RestoreDBClusterFromSnapshot',
];

type PermissionOf = (
  action: string,
  resource: string,
  context?: Record<string, string | string[]>,
) => Permission;

/**
 * Amazon DocumentDB's calls: its API and IAM are RDS's (`rds:` actions), on `cluster:`,
 * `cluster-snapshot:`, `cluster-pg:` and `db:` resources, with `rds:cluster-tag/...` and
 * `rds:cluster-snapshot-tag/...` conditions. Undefined for the instance-level RDS calls.
 */
export const documentDbPermissions = (
  call: AwsCall,
  env: CallEnvironment,
  permission: PermissionOf,
  requestTags: Record<string, string | string[]>,
): Permission[] | undefined => {
  const { input } = call;
  const action = `rds:${call.command}`;
  const cluster = arn('rds', `cluster:${String(input.DBClusterIdentifier ?? '*')}`);
  const snapshotId = input.DBClusterSnapshotIdentifier ?? input.SnapshotIdentifier ?? '*';
  const snapshot = arn('rds', `cluster-snapshot:${String(snapshotId)}`);
  const existing = resourceTagContext('aws:ResourceTag/', call.resourceTags);
  const clusterTags = { ...existing, ...resourceTagContext('rds:cluster-tag/', call.resourceTags) };
  const snapshotTags = { ...existing, ...resourceTagContext('rds:cluster-snapshot-tag/', call.resourceTags) };
  const tagging = (resource: string) =>
    input.Tags ? [permission('rds:AddTagsToResource', resource, requestTags)] : [];
  const references = () => [
    permission(action, arn('rds', `subgrp:${String(input.DBSubnetGroupName)}`), requestTags),
    permission(
      action,
      arn('rds', `cluster-pg:${String(input.DBClusterParameterGroupName ?? 'default.docdb5.0')}`),
      requestTags,
    ),
  ];
  const storageKey = (key: unknown) =>
    typeof key === 'string'
      ? [permission('kms:CreateGrant', key, via('rds')), permission('kms:DescribeKey', key, via('rds'))]
      : [];
  switch (call.command) {
    case 'CreateDBCluster':
      return [
        permission(action, cluster, requestTags),
        ...references(),
        ...tagging(cluster),
        ...(input.StorageEncrypted ? storageKey(input.KmsKeyId) : []),
        permission(
          'iam:CreateServiceLinkedRole',
          `arn:aws:iam::${FAKE_ENV.account}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS`,
          { 'iam:AWSServiceName': 'rds.amazonaws.com' },
        ),
      ];
    case 'RestoreDBClusterFromSnapshot':
      return [
        permission(action, cluster, requestTags),
        permission(action, snapshot, { ...snapshotTags, ...requestTags }),
        ...references(),
        ...tagging(cluster),
        ...storageKey(env.storageKeyArn),
      ];
    case 'ModifyDBCluster':
      return [
        permission(action, cluster, clusterTags),
        ...(input.NewDBClusterIdentifier
          ? [permission(action, arn('rds', `cluster:${String(input.NewDBClusterIdentifier)}`), clusterTags)]
          : []),
      ];
    case 'DeleteDBCluster':
      return [permission(action, cluster, clusterTags)];
    case 'DescribeDBClusters':
      return [permission(action, cluster)];
    case 'ListTagsForResource':
      return [permission(action, String(input.ResourceName))];
    case 'CreateDBClusterSnapshot':
      return [
        permission(action, cluster, { ...clusterTags, ...requestTags }),
        permission(action, snapshot, requestTags),
        ...tagging(snapshot),
      ];
    case 'DescribeDBClusterSnapshots':
      return [permission(action, snapshot)];
    case 'DeleteDBClusterSnapshot':
      return [permission(action, snapshot, snapshotTags)];
    case 'CreateDBInstance': {
      if (!input.DBClusterIdentifier) return undefined;
      // An instance of a cluster: authorized on the new instance and on the cluster it joins.
      const db = arn('rds', `db:${String(input.DBInstanceIdentifier)}`);
      return [permission(action, db, requestTags), permission(action, cluster, clusterTags), ...tagging(db)];
    }
  }
  return undefined;
};
