import fs from 'node:fs/promises';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, LoginDriver } from '../driver.ts';
import { replaceFile } from '../system.ts';
import { aclHashes, customerAclPath, passwordHash } from './config.ts';
import { asPlatform } from './connect.ts';
import { RedisReplyError } from './resp.ts';

/**
 * Credential rotation on Redis: an ACL user holds several passwords, so the customer's user keeps
 * its name and gets a second password (`ACL SETUSER u #<new>`), then loses the old one
 * (`resetpass #<current>`). The change is made twice: in `run/customer.acl`, which the server
 * reads at every start (written first, so a restart in between keeps what the running server
 * lets in), and in the running server, through the platform's user. Only hashes are written.
 * Clients already authenticated stay connected when their password is retired.
 */

/** `customer.acl` with `hashes` as the user's passwords, its rules as they are. */
const aclLine = (ctx: InstanceContext, hashes: string[], rules: string): string =>
  `user ${ctx.record.username} reset on ${hashes.join(' ')} ${rules}\n`;

const readAcl = async (ctx: InstanceContext): Promise<{ hashes: string[]; rules: string }> => {
  const acl = await fs.readFile(customerAclPath(ctx), 'utf8');
  const tokens = acl.trim().split(/\s+/);
  const firstRule = tokens.indexOf('~*');
  if (tokens[0] !== 'user' || tokens[1] !== ctx.record.username || firstRule < 0) {
    throw new ProviderError(
      `The customer's ACL of instance ${ctx.resourceId} is not the platform's`,
      'RolesNotSettled',
    );
  }
  return { hashes: aclHashes(acl), rules: tokens.slice(firstRule).join(' ') };
};

const apply = async (ctx: InstanceContext, rules: string[]): Promise<void> => {
  const [reply] = await asPlatform(ctx, [['ACL', 'SETUSER', ctx.record.username, ...rules]]);
  if (reply instanceof RedisReplyError) {
    throw new ProviderError(`Redis refused the new password of the customer's user: ${reply.message}`);
  }
};

export const redisLogins: LoginDriver = {
  async add(ctx, current, password) {
    if (current !== ctx.record.username) {
      throw new ProviderError(
        `'${current}' is not the customer's user '${ctx.record.username}'`,
        'UnknownLogin',
      );
    }
    const { hashes, rules } = await readAcl(ctx);
    const hash = passwordHash(password);
    await replaceFile(customerAclPath(ctx), aclLine(ctx, [...new Set([...hashes, hash])], rules), ctx.runAs);
    await apply(ctx, [hash]);
    return current;
  },

  async retainOnly(ctx, login) {
    if (login.username !== ctx.record.username) {
      throw new ProviderError(
        `'${login.username}' is not the customer's user '${ctx.record.username}'`,
        'UnknownLogin',
      );
    }
    const { rules } = await readAcl(ctx);
    const hash = passwordHash(login.password);
    await replaceFile(customerAclPath(ctx), aclLine(ctx, [hash], rules), ctx.runAs);
    await apply(ctx, ['resetpass', hash]);
  },
};
