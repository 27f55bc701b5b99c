import type { MongoClient } from 'mongodb';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext } from '../driver.ts';
import { isAuthFailure, platformRoleOf, withClient } from './connect.ts';

/**
 * Users of a local MongoDB instance (mongod with `--auth`):
 * - the platform's user, `addons_platform` in `admin`, role `root`; its password is in
 *   instance.json only. It is created through mongod's localhost exception (a connection from
 *   the same machine may create the first user while there is none), right after the first start.
 * - the customer's user, in the addon's own database (its authSource), with `readWrite` and
 *   `dbAdmin` on that database only: collections, documents, indexes, validators, statistics, and
 *   nothing of any other database, the users or the server.
 * No other user may exist: bootstrap and settleAccess check it, so a local process that raced
 * the platform for the localhost exception in the moments after the first start is caught.
 */
export const PLATFORM_ROLE = 'addons_platform';

/** mongod's own databases. */
export const RESERVED_DATABASES = ['admin', 'local', 'config'];

export const customerRoles = (database: string) => [
  { role: 'readWrite', db: database },
  { role: 'dbAdmin', db: database },
];

const looksLikeAuthFailure = (error: unknown): boolean =>
  isAuthFailure(error) || /Authentication failed/i.test(String((error as Error)?.message));

/** The platform's user, created through the localhost exception when the server has no user yet. */
export const ensurePlatformUser = async (ctx: InstanceContext): Promise<void> => {
  try {
    await withClient(ctx, (client) => client.db('admin').command({ ping: 1 }));
    return;
  } catch (error) {
    if (!looksLikeAuthFailure(error)) throw error;
  }
  const admin = platformRoleOf(ctx);
  await withClient(
    ctx,
    (client) =>
      client.db('admin').command({
        createUser: admin.username,
        pwd: admin.password,
        roles: [{ role: 'root', db: 'admin' }],
      }),
    'anonymous',
  );
};

/**
 * The customer's user with exactly its roles; `password` given: created or reset to it (bootstrap),
 * absent: it must exist already (settleAccess, which never knows the password).
 */
export const settleCustomer = async (
  client: MongoClient,
  customer: { username: string; database: string; password?: string },
): Promise<void> => {
  const db = client.db(customer.database);
  const roles = customerRoles(customer.database);
  const info = await db.command({ usersInfo: customer.username });
  const exists = Array.isArray(info.users) && info.users.length > 0;
  if (!exists) {
    if (customer.password === undefined) {
      throw new ProviderError(
        `The user '${customer.username}' is missing from database '${customer.database}'`,
        'RolesNotSettled',
      );
    }
    await db.command({ createUser: customer.username, pwd: customer.password, roles });
  } else {
    await db.command({
      updateUser: customer.username,
      roles,
      ...(customer.password !== undefined ? { pwd: customer.password } : {}),
    });
  }
};

/** Every user of the server must be the platform's or the customer's. */
export const checkNoOtherUsers = async (
  client: MongoClient,
  allowed: Array<{ user: string; db: string }>,
): Promise<void> => {
  const info = await client.db('admin').command({ usersInfo: { forAllDBs: true } });
  const users = (info.users ?? []) as Array<{ user: string; db: string }>;
  const others = users.filter(
    (candidate) => !allowed.some((known) => known.user === candidate.user && known.db === candidate.db),
  );
  if (others.length > 0) {
    throw new ProviderError(
      `This MongoDB instance has users the platform did not create: ${others.map((u) => `${u.user}@${u.db}`).join(', ')}`,
      'RolesNotSettled',
    );
  }
};
