import type { InstanceContext } from '../driver.ts';
import { platformConnect, platformRoleOf } from './connect.ts';

/**
 * A full instance refuses the customer's writes (storage-guard.ts): `default_transaction_read_only`
 * in postgresql.auto.conf (it survives a restart of the server) and a reload, so that every new
 * transaction of every session is read-only and a write fails with PostgreSQL's own
 * `cannot execute INSERT in a read-only transaction` (SQLSTATE 25006). Lifting resets the setting.
 * A guard, not a quota: a session may `SET default_transaction_read_only = off` (or `BEGIN READ
 * WRITE`), e.g. to drop what fills the storage. The platform's own sessions turn it off at connect
 * (connect.ts), so credential changes and settling keep working on a full instance.
 */
export const setReadOnly = async (ctx: InstanceContext, readOnly: boolean): Promise<void> => {
  const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
  try {
    await client.query(
      readOnly
        ? 'ALTER SYSTEM SET default_transaction_read_only = on'
        : 'ALTER SYSTEM RESET default_transaction_read_only',
    );
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end().catch(() => undefined);
  }
};
