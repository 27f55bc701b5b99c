import { documentDbPermissions } from './iam-documentdb.ts';
import { rdsPitrPermissions } from './iam-pitr.ts';
import { s3Permissions } from './iam-s3.ts';
import { FAKE_ENV, resolveIntrinsics } from './intrinsics.ts';
import type { CfnTemplate } from './stack.ts';

/**
 * A small IAM evaluator for the one question that breaks stacks never deployed: may this
 * function's role do what its code sends? It knows the authorization rules the platform
 * depends on (which resources an action is authorized on, the tagging and KMS calls AWS makes
 * with the caller's permissions) and evaluates Allow statements with their conditions.
 */

/** One SDK command a function sent, as recorded by the tests. */
export interface AwsCall {
  service:
    | 'dynamodb'
    | 'rds'
    | 'ec2'
    | 'secretsmanager'
    | 'states'
    | 's3'
    | 'scheduler'
    | 'elasticache'
    | 'cloudwatch'
    | 'sns';
  /** Without the `Command` suffix, e.g. `CreateDBInstance`. */
  command: string;
  input: Record<string, unknown>;
  /** Tags of the existing resource the call acts on (for `aws:ResourceTag/...` conditions). */
  resourceTags?: Record<string, string>;
  /**
   * RestoreDBInstanceFromDBSnapshot: the RDS engine and version of the snapshot restored, which
   * name the default option group the restore references. @default postgres 17
   */
  snapshotEngine?: { engine: string; version: string };
}

export interface Permission {
  action: string;
  resource: string;
  /** Condition keys AWS sets for the request; `aws:TagKeys` is multi-valued. */
  context: Record<string, string | string[]>;
  /** Why the call needs it, for failure messages. */
  because: string;
}

/** What the function's environment says about its resources (keys it uses). */
export interface CallEnvironment {
  /** Key that encrypts the table (DynamoDB calls KMS with the caller's permissions). */
  tableKeyArn?: string;
  /** Key of the connection-detail secrets. */
  secretsKeyArn?: string;
  /** Key of the backup bucket (SSE-KMS: S3 calls KMS with the caller's permissions). */
  bucketKeyArn?: string;
  /** Key of the addons' storage (a restored instance is encrypted with it through a grant). */
  storageKeyArn?: string;
  /** Buckets of other accounts (users' export buckets): bucket -> account. Others are the stack's. */
  foreignBuckets?: Record<string, string>;
}

const arn = (service: string, resource: string) =>
  `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;
const via = (service: string) => ({ 'kms:ViaService': `${service}.${FAKE_ENV.region}.amazonaws.com` });
const tagsOf = (tags: unknown): Record<string, string> =>
  Object.fromEntries(
    ((tags as Array<{ Key: string; Value: string }> | undefined) ?? []).map((tag) => [tag.Key, tag.Value]),
  );
/** `aws:RequestTag/<key>` and `aws:TagKeys` of a request that tags what it creates. */
const requestTagContext = (tags: unknown): Record<string, string | string[]> => {
  const entries = Object.entries(tagsOf(tags));
  if (entries.length === 0) return {};
  return {
    ...Object.fromEntries(entries.map(([key, value]) => [`aws:RequestTag/${key}`, value])),
    'aws:TagKeys': entries.map(([key]) => key),
  };
};
/** The tags of an existing resource, under a condition key prefix (`rds:db-tag/`, `aws:ResourceTag/`). */
const resourceTagContext = (prefix: string, tags: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(tags ?? {}).map(([key, value]) => [`${prefix}${key}`, value]));

/** The permissions AWS checks for one call. */
export const requiredPermissions = (call: AwsCall, env: CallEnvironment): Permission[] => {
  const action = `${call.service}:${call.command}`;
  const because = `${call.service} ${call.command}`;
  const input = call.input;
  const permission = (
    action: string,
    resource: string,
    context: Record<string, string | string[]> = {},
  ): Permission => ({
    action,
    resource,
    context,
    because,
  });
  switch (call.service) {
    case 'dynamodb': {
      const table = arn('dynamodb', `table/${String(input.TableName)}`);
      const resource = input.IndexName ? `${table}/index/${String(input.IndexName)}` : table;
      const permissions = [permission(action, resource)];
      if (env.tableKeyArn) {
        permissions.push(permission('kms:Decrypt', env.tableKeyArn, via('dynamodb')));
        // Conservative: writes to a table under a customer-managed key may also encrypt.
        if (['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'].includes(call.command)) {
          permissions.push(
            permission('kms:Encrypt', env.tableKeyArn, via('dynamodb')),
            permission('kms:GenerateDataKey', env.tableKeyArn, via('dynamodb')),
          );
        }
      }
      return permissions;
    }
    case 'secretsmanager': {
      if (call.command === 'ListSecrets') return [permission(action, '*')];
      // Secret ARNs end in a six-character random suffix; a SecretId may be the ARN itself.
      const name = String(input.SecretId ?? input.Name);
      const secret = name.startsWith('arn:') ? name : arn('secretsmanager', `secret:${name}-AbCdEf`);
      const permissions = [permission(action, secret)];
      if (call.command === 'CreateSecret' && input.Tags)
        permissions.push(permission('secretsmanager:TagResource', secret));
      const key = (input.KmsKeyId as string | undefined) ?? env.secretsKeyArn;
      if (key && ['CreateSecret', 'PutSecretValue'].includes(call.command)) {
        permissions.push(
          permission('kms:GenerateDataKey', key, via('secretsmanager')),
          permission('kms:Decrypt', key, via('secretsmanager')),
        );
      }
      if (key && call.command === 'GetSecretValue')
        permissions.push(permission('kms:Decrypt', key, via('secretsmanager')));
      return permissions;
    }
    case 'rds': {
      // Listing without an identifier is authorized on every instance (snapshot) of the account.
      const db = arn('rds', `db:${String(input.DBInstanceIdentifier ?? '*')}`);
      const snapshot = arn('rds', `snapshot:${String(input.DBSnapshotIdentifier ?? '*')}`);
      const requestTags = requestTagContext(input.Tags);
      // RDS matches an existing resource's tags with the global key and with its own, per resource type.
      const resourceTags = resourceTagContext('aws:ResourceTag/', call.resourceTags);
      const dbTags = { ...resourceTags, ...resourceTagContext('rds:db-tag/', call.resourceTags) };
      const snapshotTags = { ...resourceTags, ...resourceTagContext('rds:snapshot-tag/', call.resourceTags) };
      const clusterPermissions =
        documentDbPermissions(call, env, permission, requestTags) ??
        rdsPitrPermissions(call, env, permission, requestTags);
      if (clusterPermissions) return clusterPermissions;
      switch (call.command) {
        case 'CreateDBSnapshot':
          return [
            permission(action, db, { ...dbTags, ...requestTags }),
            permission(action, snapshot, requestTags),
            ...(input.Tags ? [permission('rds:AddTagsToResource', snapshot, requestTags)] : []),
          ];
        case 'DescribeDBSnapshots':
          return [permission(action, snapshot)];
        case 'DeleteDBSnapshot':
          return [permission(action, snapshot, snapshotTags)];
        case 'RestoreDBInstanceFromDBSnapshot':
          return [
            permission(action, db, requestTags),
            permission(action, snapshot, { ...snapshotTags, ...requestTags }),
            permission(action, arn('rds', `subgrp:${String(input.DBSubnetGroupName)}`), requestTags),
            permission(action, arn('rds', `pg:${String(input.DBParameterGroupName)}`), requestTags),
            // The snapshot's option group: `default:<engine>-<major, dots as dashes>`.
            permission(
              action,
              arn(
                'rds',
                `og:default:${call.snapshotEngine?.engine ?? 'postgres'}-${(call.snapshotEngine?.version ?? '17').replace(/\./g, '-')}`,
              ),
              requestTags,
            ),
            ...(input.Tags ? [permission('rds:AddTagsToResource', db, requestTags)] : []),
            ...(env.storageKeyArn
              ? [
                  permission('kms:CreateGrant', env.storageKeyArn, via('rds')),
                  permission('kms:DescribeKey', env.storageKeyArn, via('rds')),
                ]
              : []),
          ];
        case 'ModifyDBInstance':
          // A rename is authorized on the instance under both names; the tags are the instance's.
          return [
            permission(action, db, dbTags),
            // An upgrade names the parameter group of the new family: authorized on it too.
            ...(input.DBParameterGroupName
              ? [permission(action, arn('rds', `pg:${String(input.DBParameterGroupName)}`))]
              : []),
            ...(input.NewDBInstanceIdentifier
              ? [permission(action, arn('rds', `db:${String(input.NewDBInstanceIdentifier)}`), dbTags)]
              : []),
          ];
        case 'DeleteDBInstance':
        case 'RebootDBInstance':
          return [permission(action, db, dbTags)];
        case 'CreateDBInstanceReadReplica':
          // Authorized on the new replica, its source (an instance of ours) and the subnet group; a
          // same-Region replica is encrypted with the source's key, through RDS's grant.
          return [
            permission(action, db, requestTags),
            permission(action, arn('rds', `db:${String(input.SourceDBInstanceIdentifier)}`), {
              ...dbTags,
              ...requestTags,
            }),
            permission(action, arn('rds', `subgrp:${String(input.DBSubnetGroupName)}`), requestTags),
            ...(input.Tags ? [permission('rds:AddTagsToResource', db, requestTags)] : []),
            ...(env.storageKeyArn
              ? [
                  permission('kms:CreateGrant', env.storageKeyArn, via('rds')),
                  permission('kms:DescribeKey', env.storageKeyArn, via('rds')),
                ]
              : []),
          ];
        case 'DescribeDBInstances':
          return [permission(action, db)];
      }
      const permissions = [permission(action, db, requestTags)];
      if (call.command === 'CreateDBInstance') {
        // RDS names default groups after the engine and the major: `default.mysql8.4` (parameters),
        // `default:mysql-8-4` (options), `default:postgres-17`.
        const engine = String(input.Engine ?? 'postgres');
        const major = String(input.EngineVersion);
        permissions.push(
          permission(action, arn('rds', `subgrp:${String(input.DBSubnetGroupName)}`), requestTags),
          permission(
            action,
            arn('rds', `pg:${String(input.DBParameterGroupName ?? `default.${engine}${major}`)}`),
            requestTags,
          ),
          permission(action, arn('rds', `og:default:${engine}-${major.replace(/\./g, '-')}`), requestTags),
          permission(
            'iam:CreateServiceLinkedRole',
            `arn:aws:iam::${FAKE_ENV.account}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS`,
            {
              'iam:AWSServiceName': 'rds.amazonaws.com',
            },
          ),
        );
        if (input.Tags) permissions.push(permission('rds:AddTagsToResource', db, requestTags));
        if (input.StorageEncrypted && input.KmsKeyId) {
          permissions.push(
            permission('kms:CreateGrant', String(input.KmsKeyId), via('rds')),
            permission('kms:DescribeKey', String(input.KmsKeyId), via('rds')),
          );
        }
      }
      return permissions;
    }
    case 'ec2': {
      const group = (id: unknown) => arn('ec2', `security-group/${String(id)}`);
      switch (call.command) {
        case 'CreateSecurityGroup': {
          const requestTags = requestTagContext(
            (input.TagSpecifications as Array<{ Tags: unknown }> | undefined)?.[0]?.Tags,
          );
          const created = group('sg-0new');
          return [
            permission(action, arn('ec2', `vpc/${String(input.VpcId)}`)),
            permission(action, created, requestTags),
            ...(input.TagSpecifications
              ? [
                  permission('ec2:CreateTags', created, {
                    'ec2:CreateAction': 'CreateSecurityGroup',
                    ...requestTags,
                  }),
                ]
              : []),
          ];
        }
        case 'AuthorizeSecurityGroupIngress':
        case 'RevokeSecurityGroupIngress':
        case 'AuthorizeSecurityGroupEgress':
        case 'RevokeSecurityGroupEgress':
        case 'DeleteSecurityGroup':
          return [
            permission(
              action,
              group(input.GroupId),
              resourceTagContext('aws:ResourceTag/', call.resourceTags),
            ),
          ];
        default:
          // Describe* calls are authorized on "*".
          return [permission(action, '*')];
      }
    }
    case 'states':
      return [permission(action, String(input.stateMachineArn ?? input.executionArn))];
    case 's3':
      return s3Permissions(call, env, permission);
    case 'scheduler': {
      if (call.command === 'ListSchedules') return [permission(action, '*')];
      const schedule = arn('scheduler', `schedule/${String(input.GroupName)}/${String(input.Name)}`);
      const role = (input.Target as { RoleArn?: string } | undefined)?.RoleArn;
      return [
        permission(action, schedule),
        ...(role
          ? [permission('iam:PassRole', role, { 'iam:PassedToService': 'scheduler.amazonaws.com' })]
          : []),
      ];
    }
    case 'elasticache': {
      // ElastiCache matches tags with the global keys only; a create is authorized on what it
      // creates and on everything it references, all under the request's tags.
      const ec = (type: string, name: unknown) => arn('elasticache', `${type}:${String(name)}`);
      const requestTags = requestTagContext(input.Tags);
      const resourceTags = resourceTagContext('aws:ResourceTag/', call.resourceTags);
      const tagging = (resource: string) =>
        input.Tags ? [permission('elasticache:AddTagsToResource', resource, requestTags)] : [];
      switch (call.command) {
        case 'CreateReplicationGroup': {
          const group = ec('replicationgroup', input.ReplicationGroupId);
          const major = String(input.EngineVersion ?? '7').split('.')[0];
          return [
            permission(action, group, requestTags),
            permission(action, ec('cluster', `${String(input.ReplicationGroupId)}-001`), requestTags),
            permission(action, ec('subnetgroup', input.CacheSubnetGroupName), requestTags),
            permission(action, ec('parametergroup', `default.redis${major}`), requestTags),
            ...((input.UserGroupIds as string[] | undefined) ?? []).map((id) =>
              permission(action, ec('usergroup', id), requestTags),
            ),
            ...(input.SnapshotName
              ? [permission(action, ec('snapshot', input.SnapshotName), { ...resourceTags, ...requestTags })]
              : []),
            ...tagging(group),
            ...(input.KmsKeyId
              ? [
                  permission('kms:CreateGrant', String(input.KmsKeyId), via('elasticache')),
                  permission('kms:DescribeKey', String(input.KmsKeyId), via('elasticache')),
                ]
              : []),
            permission(
              'iam:CreateServiceLinkedRole',
              `arn:aws:iam::${FAKE_ENV.account}:role/aws-service-role/elasticache.amazonaws.com/AWSServiceRoleForElastiCache`,
              { 'iam:AWSServiceName': 'elasticache.amazonaws.com' },
            ),
          ];
        }
        case 'CreateUser':
          return [
            permission(action, ec('user', input.UserId), requestTags),
            ...tagging(ec('user', input.UserId)),
          ];
        case 'CreateUserGroup':
          return [
            permission(action, ec('usergroup', input.UserGroupId), requestTags),
            ...((input.UserIds as string[] | undefined) ?? []).map((id) =>
              permission(action, ec('user', id), requestTags),
            ),
            ...tagging(ec('usergroup', input.UserGroupId)),
          ];
        case 'CreateSnapshot':
          return [
            permission(action, ec('snapshot', input.SnapshotName), requestTags),
            permission(action, ec('replicationgroup', input.ReplicationGroupId), requestTags),
            ...tagging(ec('snapshot', input.SnapshotName)),
          ];
        case 'CopySnapshot': {
          const bucket = `arn:${FAKE_ENV.partition}:s3:::${String(input.TargetBucket)}`;
          return [
            permission(action, ec('snapshot', input.SourceSnapshotName), resourceTags),
            permission(action, ec('snapshot', input.TargetSnapshotName)),
            ...(input.TargetBucket
              ? [permission('s3:GetBucketLocation', bucket), permission('s3:ListBucket', bucket)]
              : []),
          ];
        }
        case 'AddTagsToResource':
          return [permission(action, String(input.ResourceName), { ...resourceTags, ...requestTags })];
        case 'DeleteReplicationGroup':
        // A replicas change is authorized on the group (its tags); ElastiCache names the nodes.
        // So is a modify (node type, Multi-AZ and automatic failover).
        case 'ModifyReplicationGroup':
        case 'IncreaseReplicaCount':
        case 'DecreaseReplicaCount':
          return [permission(action, ec('replicationgroup', input.ReplicationGroupId), resourceTags)];
        // A credential rotation's passwords: on the user, matched by its tags.
        case 'DeleteUser':
        case 'ModifyUser':
          return [permission(action, ec('user', input.UserId), resourceTags)];
        case 'DeleteUserGroup':
          return [permission(action, ec('usergroup', input.UserGroupId), resourceTags)];
        case 'DeleteSnapshot':
          return [permission(action, ec('snapshot', input.SnapshotName), resourceTags)];
        default:
          // Describe* and ListTagsForResource.
          return [permission(action, '*')];
      }
    }
    case 'cloudwatch': {
      // GetMetricData has no resource-level permissions: it is granted, and checked, on `*`.
      if (call.command === 'GetMetricData') return [permission(action, '*')];
      // Alert rules' alarms: the alarm named, or (DescribeAlarms) the prefix listed.
      const names = input.AlarmName
        ? [String(input.AlarmName)]
        : input.AlarmNames
          ? (input.AlarmNames as string[])
          : [`${String(input.AlarmNamePrefix)}x`];
      const alarms = names.map((name) => permission(action, arn('cloudwatch', `alarm:${name}`)));
      return input.Tags
        ? [
            ...alarms,
            ...names.map((name) => permission('cloudwatch:TagResource', arn('cloudwatch', `alarm:${name}`))),
          ]
        : alarms;
    }
    case 'sns': {
      if (call.command === 'ListTopics') return [permission(action, '*')];
      const resource = input.Name
        ? arn('sns', String(input.Name))
        : String(input.TopicArn ?? input.SubscriptionArn);
      return input.Tags
        ? [permission(action, resource), permission('sns:TagResource', resource)]
        : [permission(action, resource)];
    }
    default: {
      const exhaustive: never = call.service;
      throw new Error(`No IAM knowledge of ${String(exhaustive)}`);
    }
  }
};

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * Every statement attached to a role through AWS::IAM::Policy resources, and the managed
 * policies CDK splits a role's policy into when it outgrows the inline limit (`OverflowPolicy<n>`),
 * intrinsics resolved.
 */
export const roleStatements = (template: CfnTemplate, roleLogicalId: string): Statement[] =>
  Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy')
    .filter((resource) =>
      ((resource.Properties?.Roles as Array<{ Ref?: string }> | undefined) ?? []).some(
        (role) => role.Ref === roleLogicalId,
      ),
    )
    .flatMap(
      (resource) =>
        (resolveIntrinsics(resource.Properties?.PolicyDocument, template) as { Statement: Statement[] })
          .Statement,
    );

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const wildcard = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
  ).test(value);

const conditionHolds = (
  operator: string,
  values: Record<string, string | string[]>,
  context: Record<string, string | string[]>,
) =>
  Object.entries(values).every(([key, expected]) => {
    const actual = context[key];
    const candidates = list(expected).map(String);
    const equals = (value: string) => candidates.includes(value);
    const like = (value: string) => candidates.some((candidate) => wildcard(candidate, value));
    switch (operator) {
      case 'StringEquals':
      case 'ArnEquals':
      case 'Bool':
        return typeof actual === 'string' && equals(actual);
      case 'StringLike':
      case 'ArnLike':
        return typeof actual === 'string' && like(actual);
      // True when the key is absent, as AWS evaluates a negated operator.
      case 'StringNotEquals':
        return typeof actual !== 'string' || !equals(actual);
      case 'StringEqualsIfExists':
        return actual === undefined || (typeof actual === 'string' && equals(actual));
      // Every value of a multi-valued key matches; true when the request has none (AWS semantics).
      case 'ForAllValues:StringLike':
        return list(actual ?? []).every(like);
      default:
        throw new Error(`The test IAM evaluator does not know condition operator ${operator}`);
    }
  });

/** Allowed when some Allow statement matches action, resource and every condition (and no Deny does). */
export const isAllowed = (statements: Statement[], permission: Permission): boolean => {
  const matches = (statement: Statement) =>
    list(statement.Action).some((action) => wildcard(action, permission.action)) &&
    list(statement.Resource).some((resource) => wildcard(resource, permission.resource)) &&
    Object.entries(statement.Condition ?? {}).every(([operator, values]) =>
      conditionHolds(operator, values, permission.context),
    );
  return (
    statements.some((statement) => statement.Effect === 'Allow' && matches(statement)) &&
    !statements.some((statement) => statement.Effect === 'Deny' && matches(statement))
  );
};

/** The permissions of `calls` the role lacks, as readable lines. */
export const deniedPermissions = (
  statements: Statement[],
  calls: AwsCall[],
  env: CallEnvironment,
): string[] => {
  const denied = new Set<string>();
  for (const call of calls) {
    for (const permission of requiredPermissions(call, env)) {
      if (!isAllowed(statements, permission)) {
        denied.add(
          `${permission.action} on ${permission.resource}${
            Object.keys(permission.context).length ? ` with ${JSON.stringify(permission.context)}` : ''
          } (for ${permission.because})`,
        );
      }
    }
  }
  return [...denied].sort();
};

/** Actions the role allows that none of `calls` needs: least privilege means this is empty. */
export const unusedActions = (
  statements: Statement[],
  calls: AwsCall[],
  env: CallEnvironment,
  baseline: string[] = [],
): string[] => {
  const needed = new Set([
    ...baseline,
    ...calls.flatMap((call) => requiredPermissions(call, env).map((p) => p.action)),
  ]);
  const allowed = new Set(
    statements
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap((statement) => list(statement.Action)),
  );
  return [...allowed].filter((action) => !needed.has(action)).sort();
};

/** Every function's role writes logs and traces. */
export const FUNCTION_BASELINE_ACTIONS = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
];
