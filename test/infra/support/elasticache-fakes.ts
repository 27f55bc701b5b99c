import {
  DeleteReplicationGroupCommand,
  DeleteSnapshotCommand,
  DeleteUserCommand,
  DeleteUserGroupCommand,
  DescribeReplicationGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeUserGroupsCommand,
  DescribeUsersCommand,
  ElastiCacheClient,
  ListTagsForResourceCommand,
  ReplicationGroupNotFoundFault,
  UserGroupNotFoundFault,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { baseIdOf, customerUserIdOf, userGroupIdOf } from '#shared/providers/aws/redis/names.ts';
import type { AwsCall } from './iam.ts';

type Recorder = (service: AwsCall['service'], command: string) => (input: object) => object;
type TaggedRecorder = (
  service: AwsCall['service'],
  command: string,
  idOf: (input: Record<string, unknown>) => unknown,
) => (input: Record<string, unknown>) => object;

const $metadata = { httpStatusCode: 400 };
const arnOf = (kind: string, id: string) => `arn:aws:elasticache:eu-west-1:123456789012:${kind}:${id}`;

/**
 * ElastiCache for the reconciler's IAM check (api-iam.test.ts): what it sends to find and remove
 * the replication group, user group, user and snapshot of a Redis addon that is gone (its group
 * already left its user group, so everything goes in one run), beside the deployment's disabled
 * `default` user, which it must leave alone.
 */
export const installElastiCacheFakes = (
  record: Recorder,
  recordTagged: TaggedRecorder,
  gone: { addonId: string; backupId: string; deployment: () => string; since: Date },
) => {
  const elasticache = mockClient(ElastiCacheClient);
  const resourceId = resourceIdFor(gone.addonId);
  const group = baseIdOf(resourceId);
  const userGroup = userGroupIdOf(resourceId);
  const user = customerUserIdOf(resourceId);
  const snapshot = `${resourceId}-${gone.backupId}`;
  /** `<command>:<id>`: a group and its user group share an id. */
  const deleted = new Set<string>();
  const wasDeleted = (command: string, id: unknown) => deleted.has(`${command}:${String(id)}`);
  const deleting = (command: string, idOf: (input: Record<string, unknown>) => unknown) => {
    const recorded = recordTagged('elasticache', command, idOf);
    return (input: Record<string, unknown>) => {
      deleted.add(`${command}:${String(idOf(input))}`);
      return recorded(input);
    };
  };
  elasticache.on(DescribeReplicationGroupsCommand).callsFake((input) => {
    record('elasticache', 'DescribeReplicationGroups')(input);
    if (wasDeleted('DeleteReplicationGroup', input.ReplicationGroupId)) {
      throw new ReplicationGroupNotFoundFault({ $metadata, message: 'not found' });
    }
    return {
      ReplicationGroups: [
        {
          ReplicationGroupId: group,
          ARN: arnOf('replicationgroup', group),
          Status: 'available',
          UserGroupIds: [userGroup],
          ReplicationGroupCreateTime: gone.since,
        },
      ],
    };
  });
  elasticache.on(DescribeUserGroupsCommand).callsFake((input) => {
    record('elasticache', 'DescribeUserGroups')(input);
    if (wasDeleted('DeleteUserGroup', input.UserGroupId)) {
      throw new UserGroupNotFoundFault({ $metadata, message: 'not found' });
    }
    return {
      UserGroups: [
        {
          UserGroupId: userGroup,
          ARN: arnOf('usergroup', userGroup),
          Status: 'active',
          ReplicationGroups: [],
        },
      ],
    };
  });
  elasticache.on(DescribeUsersCommand).callsFake((input) => {
    record('elasticache', 'DescribeUsers')(input);
    if (wasDeleted('DeleteUser', input.UserId))
      throw new UserNotFoundFault({ $metadata, message: 'not found' });
    const users = [
      { UserId: user, UserName: gone.addonId, ARN: arnOf('user', user), Status: 'active' },
      {
        UserId: 'addon-addons-off',
        UserName: 'default',
        ARN: arnOf('user', 'addon-addons-off'),
        Status: 'active',
      },
    ];
    return { Users: input.UserId ? users.filter((one) => one.UserId === input.UserId) : users };
  });
  elasticache.on(DescribeSnapshotsCommand).callsFake((input) => {
    record('elasticache', 'DescribeSnapshots')(input);
    return {
      Snapshots: [
        {
          SnapshotName: snapshot,
          ARN: arnOf('snapshot', snapshot),
          SnapshotStatus: 'available',
          NodeSnapshots: [{ SnapshotCreateTime: gone.since }],
        },
      ],
    };
  });
  elasticache.on(ListTagsForResourceCommand).callsFake((input) => {
    record('elasticache', 'ListTagsForResource')(input);
    return {
      TagList: [
        { Key: 'addons:deployment', Value: gone.deployment() },
        { Key: 'addons:addon', Value: gone.addonId },
      ],
    };
  });
  elasticache
    .on(DeleteReplicationGroupCommand)
    .callsFake(deleting('DeleteReplicationGroup', (input) => input.ReplicationGroupId));
  elasticache.on(DeleteUserGroupCommand).callsFake(deleting('DeleteUserGroup', (input) => input.UserGroupId));
  elasticache.on(DeleteUserCommand).callsFake(deleting('DeleteUser', (input) => input.UserId));
  elasticache.on(DeleteSnapshotCommand).callsFake(deleting('DeleteSnapshot', (input) => input.SnapshotName));
  return elasticache;
};
