import type { InstanceContext } from '../driver.ts';
import { withPlatform } from './connect.ts';

/**
 * A full instance refuses the customer's writes (storage-guard.ts): `read_only`, which refuses
 * writes from every account without the READ_ONLY ADMIN privilege (MariaDB 10.11; SUPER before).
 * The customer's account has no global privilege at all (accounts.ts `settleCustomer`), so its
 * writes fail with the server's own `ER_OPTION_PREVENTS_STATEMENT` (1290: "The MariaDB server is
 * running with the --read-only option so it cannot execute this statement"); the platform's account
 * (ALL PRIVILEGES) keeps writing. `read_only` is not persisted by the server: while instance.json
 * records `storageFull`, the driver's init file sets it at every start, before the server opens
 * its port (`readOnlyInitSql`).
 */
export const setReadOnly = (ctx: InstanceContext, readOnly: boolean): Promise<void> =>
  withPlatform(ctx, async (connection) => {
    await connection.query(`SET GLOBAL read_only = ${readOnly ? 'ON' : 'OFF'}`);
  });

/** The init-file line that starts a full instance read-only, as instance.json records it (one statement a line). */
export const readOnlyInitSql = (ctx: InstanceContext): string =>
  ctx.record.storageFull ? 'SET GLOBAL read_only = ON;\n' : '';
