import type { Connection } from 'mysql2/promise';
import { otherLogin } from '#shared/engines/alternating-logins.ts';
import type { InstanceContext, LoginDriver } from '../driver.ts';
import { customerAccount, settleCustomer } from './accounts.ts';
import { withPlatform } from './connect.ts';
import { PRIVATE_HOST, syncHosts } from './hosts.ts';

/**
 * Credential rotation on MariaDB, which (unlike MySQL 8's RETAIN CURRENT PASSWORD) has one
 * password per account: alternating users. The customer's account (`ctx.record.username`) and a
 * second account `<user>_2` take turns being the published login; both get exactly the
 * customer's grants (settleCustomer), and MariaDB objects belong to databases, not accounts, so
 * either sees and changes the same data. Retiring a login locks its account (ACCOUNT LOCK: new
 * connections are refused, sessions already open stay) rather than dropping it, because views,
 * triggers and routines it created name it as their DEFINER and keep working only while it exists.
 * Each change is made on the login's reference account and copied to its accounts for the allowed
 * sources (hosts.ts).
 */

/** `username` can log in with `password`, with the customer's grants. */
const enable = async (
  connection: Connection,
  ctx: InstanceContext,
  username: string,
  password: string,
): Promise<void> => {
  // One settlement: the password and the unlock on the reference account, then one copy to the
  // allowed sources (settleCustomer ends with it).
  await settleCustomer(connection, ctx.record, {
    username,
    database: ctx.record.database,
    password,
    unlock: true,
  });
};

export const mysqlLogins: LoginDriver = {
  async add(ctx, current, password) {
    const next = otherLogin(ctx.record.username, current);
    await withPlatform(ctx, (connection) => enable(connection, ctx, next, password));
    return next;
  },

  async retainOnly(ctx, login) {
    const other = otherLogin(ctx.record.username, login.username);
    await withPlatform(ctx, async (connection) => {
      await enable(connection, ctx, login.username, login.password);
      const [rows] = await connection.query('SELECT 1 FROM mysql.global_priv WHERE User = ? AND Host = ?', [
        other,
        PRIVATE_HOST,
      ]);
      if ((rows as unknown[]).length > 0) {
        await connection.query(`ALTER USER ${customerAccount(other)} ACCOUNT LOCK`);
        await syncHosts(connection, ctx.record);
      }
    });
  },
};
