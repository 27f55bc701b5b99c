import type pg from 'pg';
import type { InstanceContext, LoginDriver } from '../driver.ts';
import { otherLogin } from '../logins.ts';
import { platformConnect, platformRoleOf } from './connect.ts';
import { CUSTOMER_ATTRIBUTES } from './roles.ts';

/**
 * Credential rotation on PostgreSQL, where a role has one password: alternating users. The
 * customer's role (`ctx.record.username`, which owns the database and everything in it) and a
 * second login role `<user>_2` take turns being the published login. The second role is a member
 * of the customer's and starts every session as it (`ALTER ROLE ... SET role`), so what it creates
 * is owned by the customer's role, exactly as if the customer's role had logged in, and it has the
 * same rights without any grant of its own. Retiring a login takes its password away (PASSWORD
 * NULL: password authentication can never succeed; the second role also loses LOGIN), so it is
 * never dropped: nothing it did can dangle. Sessions already open stay open.
 */

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

const asPlatform = async (ctx: InstanceContext, fn: (client: pg.Client) => Promise<void>): Promise<void> => {
  const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
  try {
    await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** `username` can log in with `password`, as the customer's role (itself, or the second role acting as it). */
const enable = async (
  client: pg.Client,
  owner: string,
  username: string,
  password: string,
): Promise<void> => {
  if (username === owner) {
    await client.query(
      `ALTER ROLE ${ident(owner)} WITH ${CUSTOMER_ATTRIBUTES} PASSWORD ${literal(password)}`,
    );
    return;
  }
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
  const verb = exists.rowCount === 0 ? 'CREATE' : 'ALTER';
  await client.query(
    `${verb} ROLE ${ident(username)} WITH ${CUSTOMER_ATTRIBUTES} INHERIT PASSWORD ${literal(password)}`,
  );
  await client.query(`GRANT ${ident(owner)} TO ${ident(username)}`);
  await client.query(`ALTER ROLE ${ident(username)} SET role = ${literal(owner)}`);
};

export const postgresLogins: LoginDriver = {
  async add(ctx, current, password) {
    const owner = ctx.record.username;
    const next = otherLogin(owner, current);
    await asPlatform(ctx, (client) => enable(client, owner, next, password));
    return next;
  },

  async retainOnly(ctx, login) {
    const owner = ctx.record.username;
    const other = otherLogin(owner, login.username);
    await asPlatform(ctx, async (client) => {
      await enable(client, owner, login.username, login.password);
      if (other === owner) {
        await client.query(`ALTER ROLE ${ident(owner)} WITH PASSWORD NULL`);
      } else {
        const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [other]);
        if (exists.rowCount) await client.query(`ALTER ROLE ${ident(other)} WITH NOLOGIN PASSWORD NULL`);
      }
    });
  },
};
