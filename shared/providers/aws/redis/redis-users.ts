import {
  AddTagsToResourceCommand,
  CreateUserCommand,
  CreateUserGroupCommand,
  DeleteUserCommand,
  DeleteUserGroupCommand,
  DescribeUserGroupsCommand,
  DescribeUsersCommand,
  ListTagsForResourceCommand,
  type Tag,
  type UserGroup,
} from '@aws-sdk/client-elasticache';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import type { ElastiCacheSend } from './elasticache-groups.ts';
import { baseIdOf, customerUserIdOf, REDIS_TAG_KEYS, userGroupIdOf } from './names.ts';

/** The customer user may run every command ElastiCache allows, on every key and channel. */
export const CUSTOMER_ACCESS = 'on ~* &* +@all';

/** Where the addon answers now, and the group a restore replaced (until it is deleted). */
export interface Pointer {
  current: string;
  previous?: string;
  /** The user group's tags other than the pointer's: the deployment, project and addon. */
  addonTags: Tag[];
  /** Undefined when the user group does not exist (never created, or already deleted). */
  userGroup?: UserGroup;
}

/**
 * The addon's RBAC users and user group. Why RBAC rather than an AUTH token: the connection
 * details name a user and a password (`rediss://user:password@host:6379/0`), and a replication
 * group restored from a snapshot is created without the password (the provider never gets it
 * again); with a user group, every group the addon ever has shares the same users, so a restore
 * changes the host and nothing else. ElastiCache user names are unique in an account and Region
 * (DuplicateUserName), so the customer user's name is the addon's own (`usernameFor` of the Redis
 * engine facts). Every user group must contain a user named `default`: the deployment's, created
 * switched off by the stack (infra/aws/constructs/engines/redis.ts) and shared by every addon, so
 * an addon's own users are one, which ElastiCache deletes at once (a `default` user cannot be
 * deleted while a user group being deleted still holds it).
 *
 * The user group also holds the addon's pointer (`REDIS_TAG_KEYS.currentGroup`): which
 * replication group the addon currently answers on. Its id is derived from the resource id, so
 * it is found without a record, and switching the pointer is one tagging call.
 */
export class RedisUsers {
  constructor(
    private readonly elasticache: ElastiCacheSend,
    /** The deployment's disabled `default` user. */
    private readonly defaultUserId: string,
  ) {}

  /** Create the users and the user group (each idempotent); returns the user group id. */
  async ensure(
    spec: { resourceId: string; username: string; password: string },
    tags: Tag[],
  ): Promise<string> {
    const customer = customerUserIdOf(spec.resourceId);
    await this.createUser({
      UserId: customer,
      UserName: spec.username,
      AccessString: CUSTOMER_ACCESS,
      Passwords: [spec.password],
      tags,
    });
    const userGroupId = userGroupIdOf(spec.resourceId);
    try {
      await this.elasticache(
        new CreateUserGroupCommand({
          UserGroupId: userGroupId,
          Engine: 'redis',
          UserIds: [this.defaultUserId, customer],
          Tags: [...tags, { Key: REDIS_TAG_KEYS.currentGroup, Value: baseIdOf(spec.resourceId) }],
        }),
      );
    } catch (error) {
      if (!isAwsError(error, 'UserGroupAlreadyExists')) {
        throw toPlatformError(error, "creating the addon's Redis user group");
      }
    }
    return userGroupId;
  }

  private async createUser(input: {
    UserId: string;
    UserName: string;
    AccessString: string;
    Passwords: string[];
    tags: Tag[];
  }): Promise<void> {
    try {
      await this.elasticache(
        new CreateUserCommand({
          UserId: input.UserId,
          UserName: input.UserName,
          Engine: 'redis',
          AccessString: input.AccessString,
          AuthenticationMode: { Type: 'password', Passwords: input.Passwords },
          Tags: input.tags,
        }),
      );
    } catch (error) {
      if (!isAwsError(error, 'UserAlreadyExists')) {
        throw toPlatformError(error, `creating Redis user ${input.UserId}`);
      }
    }
  }

  private async userExists(userId: string): Promise<boolean> {
    try {
      const result = await this.elasticache(new DescribeUsersCommand({ UserId: userId }));
      return (result.Users?.length ?? 0) > 0;
    } catch (error) {
      if (isAwsError(error, 'UserNotFound')) return false;
      throw toPlatformError(error, `looking up Redis user ${userId}`);
    }
  }

  async findUserGroup(resourceId: string): Promise<UserGroup | undefined> {
    try {
      const result = await this.elasticache(
        new DescribeUserGroupsCommand({ UserGroupId: userGroupIdOf(resourceId) }),
      );
      return result.UserGroups?.[0];
    } catch (error) {
      if (isAwsError(error, 'UserGroupNotFound')) return undefined;
      throw toPlatformError(error, "looking up the addon's Redis user group");
    }
  }

  /** The addon's pointer; without a user group, the base id (the only group it can have). */
  async pointer(resourceId: string): Promise<Pointer> {
    const userGroup = await this.findUserGroup(resourceId);
    const fallback = { current: baseIdOf(resourceId), addonTags: [] };
    if (!userGroup?.ARN) return { ...fallback, userGroup };
    let tags: Tag[] = [];
    try {
      const result = await this.elasticache(new ListTagsForResourceCommand({ ResourceName: userGroup.ARN }));
      tags = result.TagList ?? [];
    } catch (error) {
      if (isAwsError(error, 'UserGroupNotFound')) return fallback;
      throw toPlatformError(error, "reading the addon's Redis user group tags");
    }
    const value = (key: string) => tags.find((tag) => tag.Key === key)?.Value || undefined;
    const pointerKeys: string[] = [REDIS_TAG_KEYS.currentGroup, REDIS_TAG_KEYS.previousGroup];
    return {
      current: value(REDIS_TAG_KEYS.currentGroup) ?? fallback.current,
      previous: value(REDIS_TAG_KEYS.previousGroup),
      addonTags: tags.filter((tag) => tag.Key && !pointerKeys.includes(tag.Key)),
      userGroup,
    };
  }

  /** The switch of a restore: one call, so the addon answers on `current` or on `previous`, never on neither. */
  async switchTo(pointer: Pointer, current: string): Promise<void> {
    const arn = pointer.userGroup?.ARN;
    if (!arn)
      throw toPlatformError(
        new Error('The user group has no ARN'),
        'switching the addon to the restored group',
      );
    try {
      await this.elasticache(
        new AddTagsToResourceCommand({
          ResourceName: arn,
          Tags: [
            { Key: REDIS_TAG_KEYS.currentGroup, Value: current },
            { Key: REDIS_TAG_KEYS.previousGroup, Value: pointer.current },
          ],
        }),
      );
    } catch (error) {
      throw toPlatformError(error, 'switching the addon to the restored replication group');
    }
  }

  /**
   * Delete the user group and the addon's user (ElastiCache removes a deleted user from its
   * groups). False while a replication group still uses the user group (ElastiCache refuses until
   * the replication group is gone) or while it is being deleted: call again.
   */
  async delete(resourceId: string): Promise<boolean> {
    const userGroup = await this.findUserGroup(resourceId);
    if (userGroup) {
      if (userGroup.Status === 'deleting') return false;
      try {
        await this.elasticache(new DeleteUserGroupCommand({ UserGroupId: userGroupIdOf(resourceId) }));
      } catch (error) {
        if (isAwsError(error, 'InvalidUserGroupState')) return false;
        if (!isAwsError(error, 'UserGroupNotFound')) {
          throw toPlatformError(error, "deleting the addon's Redis user group");
        }
      }
    }
    const userId = customerUserIdOf(resourceId);
    // Looked up first: IAM refuses DeleteUser on a user that is gone (no tag to match), so a
    // retried teardown must not ask.
    if (!(await this.userExists(userId))) return !userGroup;
    try {
      await this.elasticache(new DeleteUserCommand({ UserId: userId }));
    } catch (error) {
      // Busy (being modified): the next call deletes it.
      if (isAwsError(error, 'InvalidUserState')) return false;
      if (!isAwsError(error, 'UserNotFound')) throw toPlatformError(error, `deleting Redis user ${userId}`);
    }
    return !userGroup;
  }
}
