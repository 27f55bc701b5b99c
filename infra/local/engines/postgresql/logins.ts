import type pg from 'pg';
import { addLoginSql, retainOnlyLoginSql } from '#shared/engines/postgresql/logins.ts';
import type { InstanceContext, LoginDriver } from '../driver.ts';
import { platformConnect, platformRoleOf } from './connect.ts';
import { CUSTOMER_ATTRIBUTES } from './roles.ts';

/**
 * Credential rotation on PostgreSQL: alternating users, with the SQL the AWS login job runs too
 * (shared/engines/postgresql/logins.ts, which says how). Locally it runs as the instance's
 * superuser, and the customer's role keeps exactly the customer's attributes.
 */

const OPTIONS = { ownerAttributes: CUSTOMER_ATTRIBUTES, alternateAttributes: CUSTOMER_ATTRIBUTES };

const asPlatform = async <T>(ctx: InstanceContext, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};

export const postgresLogins: LoginDriver = {
  add: (ctx, current, password) =>
    asPlatform(ctx, (client) => addLoginSql(client, ctx.record.username, current, password, OPTIONS)),

  retainOnly: (ctx, login) =>
    asPlatform(ctx, (client) => retainOnlyLoginSql(client, ctx.record.username, login, OPTIONS)),
};
