import { DescribeUsersCommand, ModifyUserCommand, type User } from '@aws-sdk/client-elasticache';
import { TransientError } from '../../../errors.ts';
import type { Login, LoginsState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import type { ElastiCacheSend } from './elasticache-groups.ts';
import { customerUserIdOf } from './names.ts';

/**
 * Credential rotation of a Redis addon on ElastiCache: its customer user is an RBAC user
 * (redis-users.ts), which holds up to two passwords. `ModifyUser` replaces the whole list, so a
 * rotation sets `[published, new]` and its end `[published]`, each naming every password that
 * must keep working. ElastiCache applies it asynchronously: the user is `modifying` (seconds to
 * minutes) and the new list is in force once it is `active` again, with that many passwords
 * (`describe`); the rotate-credentials workflow waits for it before it publishes anything.
 * A user still `modifying` refuses another ModifyUser (InvalidUserState): a TransientError, which
 * the workflow's Retry asks again.
 */
export class RedisLogins {
  constructor(private readonly elasticache: ElastiCacheSend) {}

  /** Let `password` in besides the published login; the user stays the same. Idempotent. */
  async add(resourceId: string, current: Login, password: string): Promise<string> {
    await this.setPasswords(resourceId, [current.password, password], 'adding a password');
    return current.username;
  }

  /** Leave the published login's password as the user's only one. Idempotent. */
  async retainOnly(resourceId: string, login: Login): Promise<void> {
    await this.setPasswords(resourceId, [login.password], 'retiring the previous password');
  }

  async describe(resourceId: string, logins: 1 | 2): Promise<LoginsState> {
    const user = await this.find(resourceId);
    if (!user)
      return { status: 'failed', reason: `Redis user ${customerUserIdOf(resourceId)} does not exist` };
    if (user.Status === 'modifying') return { status: 'applying' };
    if (user.Status !== 'active') {
      return {
        status: 'failed',
        reason: `Redis user ${user.UserId} is ${user.Status ?? 'in an unknown state'}`,
      };
    }
    // Active with the other count: the change was not taken up yet (an eventually consistent read).
    const count = user.Authentication?.PasswordCount;
    return count === undefined || count === logins ? { status: 'applied' } : { status: 'applying' };
  }

  private async find(resourceId: string): Promise<User | undefined> {
    const UserId = customerUserIdOf(resourceId);
    try {
      const result = await this.elasticache(new DescribeUsersCommand({ UserId }));
      return result.Users?.[0];
    } catch (error) {
      if (isAwsError(error, 'UserNotFound')) return undefined;
      throw toPlatformError(error, `looking up Redis user ${UserId}`);
    }
  }

  private async setPasswords(resourceId: string, Passwords: string[], doing: string): Promise<void> {
    const UserId = customerUserIdOf(resourceId);
    try {
      await this.elasticache(new ModifyUserCommand({ UserId, Passwords }));
    } catch (error) {
      if (isAwsError(error, 'InvalidUserState')) {
        throw new TransientError(
          `ElastiCache could not complete this yet: Redis user ${UserId} is busy; ${doing} later`,
        );
      }
      throw toPlatformError(error, `${doing} of Redis user ${UserId}`);
    }
  }
}
