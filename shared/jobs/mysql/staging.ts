import type { RowDataPacket } from 'mysql2/promise';
import { RESTORE_RETIRED_DATABASE, RESTORE_STAGING_DATABASE } from '../../engines/mysql/index.ts';
import { ProviderError } from '../../errors.ts';
import { type MysqlConnection, quoteId } from './connection.ts';

/**
 * The all-or-nothing restore of a MySQL database. DDL is not transactional in MySQL, so the dump
 * loads into a STAGING database and one atomic multi-table RENAME TABLE swaps it in:
 *
 *   prepare:  drop leftovers; CREATE DATABASE addons_restore (the target's charset/collation)
 *   load:     mariadb --database=addons_restore < dump      (the customer's database untouched)
 *   commit:   capture triggers/views/routines/events of the staging db (SHOW CREATE, unqualified),
 *             write them with the restore id into addons_restore.__addons_restore in ONE
 *             transaction: the marker, the point of no return. Then roll forward.
 *   forward:  drop the staging db's and the customer db's triggers/views/routines/events
 *             (triggers block a cross-database RENAME: ERROR 1435 "Trigger in wrong schema";
 *             views cannot change database at all); recreate addons_retired empty; ONE
 *             `RENAME TABLE db.t TO addons_retired.t, ..., addons_restore.s TO db.s, ...,
 *             addons_restore.__addons_restore TO addons_retired.__addons_restore`; recreate the
 *             captured objects in db; drop addons_restore, then addons_retired (marker last).
 *
 * The marker moves with the tables in the same RENAME, so where it lies says how far a crashed
 * roll forward got: in addons_restore = not swapped yet (the customer's tables untouched, the
 * swap is redone from the start), in addons_retired = swapped (only the objects are recreated
 * and the leftovers dropped). Every step is idempotent, so any number of crashes resume.
 * Before the marker the customer's database is exactly as it was; after it, the restore finishes.
 *
 * The names are fixed: one server (and one database) per addon. The job's user needs ALL on its
 * database and on these two (the local driver grants them; on RDS the master user has them).
 * Writes to the customer's database during the restore are lost, as with any restore; a table
 * created meanwhile under a name the backup also has makes the RENAME fail (resumable).
 *
 * Known limit: mariadb-dump writes events after the tables' rows, and the loader creates them as
 * dumped; with the event scheduler on (MySQL 8's default) an ENABLED event that falls due in
 * the seconds before the marker drops it from the staging database runs there, on the staged
 * rows. Routines and triggers never run on their own.
 */
export const STAGING_DB = RESTORE_STAGING_DATABASE;
export const RETIRED_DB = RESTORE_RETIRED_DATABASE;
export const MARKER_TABLE = '__addons_restore';

type ObjectKind = 'procedure' | 'function' | 'view' | 'trigger' | 'event';

/** A trigger, view, routine or event as the server shows it, with the session it needs. */
interface CapturedObject {
  kind: ObjectKind;
  name: string;
  definition: string;
  sqlMode: string;
  collationConnection: string;
  timeZone: string | null;
}

/** Creation order: routines first (views and triggers may call them), views before triggers. */
const RECREATE_ORDER: ObjectKind[] = ['procedure', 'function', 'view', 'trigger', 'event'];

interface Row extends RowDataPacket {
  [column: string]: unknown;
}

const rows = async (client: MysqlConnection, sql: string, values: unknown[] = []): Promise<Row[]> => {
  const [result] = await client.query<Row[]>(sql, values);
  return result;
};

const tableExists = async (client: MysqlConnection, database: string, table: string) =>
  (
    await rows(client, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
      database,
      table,
    ])
  ).length > 0;

export interface MarkerState {
  /** Where the marker lies: staging = committed, not swapped yet; retired = swapped. */
  database: typeof STAGING_DB | typeof RETIRED_DB;
  restoreId: string;
}

/** The marker of a committed restore still rolling forward, if any. */
export const findMarker = async (client: MysqlConnection): Promise<MarkerState | undefined> => {
  for (const database of [RETIRED_DB, STAGING_DB] as const) {
    if (!(await tableExists(client, database, MARKER_TABLE))) continue;
    const found = await rows(
      client,
      `SELECT definition FROM ${quoteId(database)}.${quoteId(MARKER_TABLE)} WHERE kind = 'marker'`,
    );
    const restoreId = found[0]?.definition;
    // A marker table without its row: the transaction that writes both never committed.
    if (typeof restoreId === 'string') return { database, restoreId };
  }
  return undefined;
};

/** Leftovers of an earlier try that never reached its marker: nothing in them is needed. */
export const dropStaging = async (client: MysqlConnection): Promise<void> => {
  await client.query(`DROP DATABASE IF EXISTS ${quoteId(STAGING_DB)}`);
  await client.query(`DROP DATABASE IF EXISTS ${quoteId(RETIRED_DB)}`);
};

/**
 * A fresh staging database with the target's default charset and collation, which the dump's
 * tables state anyway but its routines inherit.
 */
export const createStaging = async (client: MysqlConnection, target: string): Promise<void> => {
  const [schema] = await rows(
    client,
    'SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [target],
  );
  if (!schema) throw new ProviderError(`The database ${target} does not exist`, 'RestoreFailed');
  await dropStaging(client);
  await client.query(
    `CREATE DATABASE ${quoteId(STAGING_DB)} CHARACTER SET ${quoteId(String(schema.charset))} COLLATE ${quoteId(String(schema.collation))}`,
  );
};

/** The triggers, views, routines and events of `database`, triggers in their firing order. */
const listObjects = async (
  client: MysqlConnection,
  database: string,
): Promise<Array<{ kind: ObjectKind; name: string }>> => {
  const found = await rows(
    client,
    `SELECT 'trigger' AS kind, TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS a, ACTION_TIMING AS b, EVENT_MANIPULATION AS c, ACTION_ORDER AS d
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION ALL SELECT 'view', TABLE_NAME, '', '', '', 0 FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, '', '', '', 0 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION ALL SELECT 'event', EVENT_NAME, '', '', '', 0 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
     ORDER BY 1, 3, 4, 5, 6, 2`,
    [database, database, database, database],
  );
  return found.map((row) => {
    const kind = String(row.kind);
    // MariaDB's Oracle-mode packages: mariadb-dump 10.11 does not dump them anyway.
    if (!RECREATE_ORDER.includes(kind as ObjectKind)) {
      throw new ProviderError(`The restore cannot carry a ${kind} (${String(row.name)})`, 'RestoreFailed');
    }
    return { kind: kind as ObjectKind, name: String(row.name) };
  });
};

const DROP_KEYWORD: Record<ObjectKind, string> = {
  procedure: 'PROCEDURE',
  function: 'FUNCTION',
  view: 'VIEW',
  trigger: 'TRIGGER',
  event: 'EVENT',
};

/** Drops every trigger, view, routine and event of `database`; what is already gone is skipped. */
const dropObjects = async (client: MysqlConnection, database: string): Promise<void> => {
  for (const { kind, name } of await listObjects(client, database)) {
    await client.query(`DROP ${DROP_KEYWORD[kind]} IF EXISTS ${quoteId(database)}.${quoteId(name)}`);
  }
};

/** Column of SHOW CREATE holding the statement, per kind. */
const CREATE_COLUMN: Record<ObjectKind, string> = {
  procedure: 'Create Procedure',
  function: 'Create Function',
  view: 'Create View',
  trigger: 'SQL Original Statement',
  event: 'Create Event',
};

/**
 * Reads the definitions with SHOW CREATE while the staging database is the current one, so they
 * name their own database's objects without a qualifier and recreate as well in the target.
 * A definer other than the restoring user already failed the load (creating an object for
 * another definer needs SUPER / SET USER on MariaDB, SET_USER_ID or SET_ANY_DEFINER on MySQL):
 * the restore fails cleanly. A NULL body means the user may not read it, same cause.
 */
const captureObjects = async (client: MysqlConnection): Promise<CapturedObject[]> => {
  await client.query(`USE ${quoteId(STAGING_DB)}`);
  const captured: CapturedObject[] = [];
  for (const { kind, name } of await listObjects(client, STAGING_DB)) {
    const [row] = await rows(client, `SHOW CREATE ${DROP_KEYWORD[kind]} ${quoteId(name)}`);
    const definition = row?.[CREATE_COLUMN[kind]];
    if (typeof definition !== 'string' || !definition) {
      throw new ProviderError(
        `The ${kind} ${name} of the backup cannot be read back by the restoring user (SHOW CREATE gave no definition)`,
        'RestoreFailed',
      );
    }
    captured.push({
      kind,
      name,
      definition,
      sqlMode: String(row?.sql_mode ?? ''),
      // Views have no stored sql_mode; their collation is what the server shows.
      collationConnection: String(row?.collation_connection ?? 'utf8mb4_general_ci'),
      timeZone: kind === 'event' ? String(row?.time_zone ?? 'SYSTEM') : null,
    });
  }
  return captured;
};

/**
 * The point of no return: the staging database's objects and the restore id in the marker
 * table, all in one transaction (the marker row counts only once committed with the rest).
 * Then the staging objects go, so that the staging tables can change database.
 */
export const writeMarker = async (client: MysqlConnection, restoreId: string): Promise<void> => {
  const captured = await captureObjects(client);
  const marker = `${quoteId(STAGING_DB)}.${quoteId(MARKER_TABLE)}`;
  await client.query(
    `CREATE TABLE ${marker} (
       seq INT NOT NULL PRIMARY KEY,
       kind VARCHAR(16) NOT NULL,
       name VARCHAR(255) NOT NULL,
       definition LONGTEXT NOT NULL,
       sql_mode VARCHAR(1024) NOT NULL,
       collation_connection VARCHAR(64) NOT NULL,
       time_zone VARCHAR(64) NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  );
  await client.beginTransaction();
  try {
    let seq = 0;
    for (const object of captured) {
      await client.query(`INSERT INTO ${marker} VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        ++seq,
        object.kind,
        object.name,
        object.definition,
        object.sqlMode,
        object.collationConnection,
        object.timeZone,
      ]);
    }
    await client.query(`INSERT INTO ${marker} VALUES (0, 'marker', '', ?, '', '', NULL)`, [restoreId]);
    await client.commit();
  } catch (error) {
    await client.rollback().catch(() => undefined);
    throw error;
  }
};

/**
 * Finishes a committed restore, from wherever an earlier run stopped. `client` is connected to
 * the target database; `lockTimeoutMs` bounds the wait for other sessions' metadata locks
 * (a long transaction on a table holds the RENAME back).
 */
export const rollForward = async (
  client: MysqlConnection,
  target: string,
  lockTimeoutMs: number,
  /** Test hook: stop after the named step, as a crash there would. */
  stopAfter?: 'swap' | 'recreate',
): Promise<void> => {
  const seconds = Math.max(1, Math.ceil(lockTimeoutMs / 1000));
  await client.query(`SET SESSION lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}`);
  const marker = await findMarker(client);
  if (!marker)
    throw new ProviderError('The restore has no completion marker to roll forward', 'RestoreFailed');
  const db = quoteId(target);
  const staging = quoteId(STAGING_DB);
  const retired = quoteId(RETIRED_DB);
  if (marker.database === STAGING_DB) {
    await dropObjects(client, STAGING_DB);
    await dropObjects(client, target);
    await client.query(`DROP DATABASE IF EXISTS ${retired}`);
    await client.query(`CREATE DATABASE ${retired}`);
    const tablesOf = async (database: string) =>
      (
        await rows(
          client,
          `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME`,
          [database],
        )
      )
        .map((row) => String(row.name))
        .filter((name) => database !== STAGING_DB || name !== MARKER_TABLE);
    const pairs = [
      ...(await tablesOf(target)).map((name) => `${db}.${quoteId(name)} TO ${retired}.${quoteId(name)}`),
      ...(await tablesOf(STAGING_DB)).map((name) => `${staging}.${quoteId(name)} TO ${db}.${quoteId(name)}`),
      `${staging}.${quoteId(MARKER_TABLE)} TO ${retired}.${quoteId(MARKER_TABLE)}`,
    ];
    // One statement: MySQL and MariaDB apply a multi-table RENAME all or nothing. The
    // customer's tables leave first, so their names are free for the backup's.
    await client.query(`RENAME TABLE ${pairs.join(', ')}`);
  }
  if (stopAfter === 'swap') return;
  await dropObjects(client, target);
  await client.query(`USE ${db}`);
  const captured = await rows(
    client,
    `SELECT kind, name, definition, sql_mode, collation_connection, time_zone
       FROM ${retired}.${quoteId(MARKER_TABLE)} WHERE kind <> 'marker' ORDER BY seq`,
  );
  const ordered = RECREATE_ORDER.flatMap((kind) => captured.filter((row) => row.kind === kind));
  await recreate(client, ordered);
  if (stopAfter === 'recreate') return;
  await client.query(`DROP DATABASE IF EXISTS ${staging}`);
  // The marker goes last, with the database holding it: the restore is done.
  await client.query(`DROP DATABASE IF EXISTS ${retired}`);
};

/**
 * Runs each definition in the session settings it was created with: sql_mode changes what a
 * routine body means, collation_connection its string literals, time_zone an event's times.
 * A view may select from a view created after it: views failing on a missing table are retried
 * until a round makes no progress.
 */
const recreate = async (client: MysqlConnection, objects: Row[]): Promise<void> => {
  const run = async (object: Row) => {
    await client.query('SET SESSION sql_mode = ?, collation_connection = ?', [
      object.sql_mode,
      object.collation_connection,
    ]);
    if (object.time_zone !== null) await client.query('SET SESSION time_zone = ?', [object.time_zone]);
    await client.query(String(object.definition));
  };
  let pending = objects;
  while (pending.length) {
    const failed: Array<{ object: Row; error: unknown }> = [];
    for (const object of pending) {
      try {
        await run(object);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (object.kind === 'view' && code === 'ER_NO_SUCH_TABLE') failed.push({ object, error });
        else throw error;
      }
    }
    if (failed.length === pending.length) throw failed[0]?.error;
    pending = failed.map(({ object }) => object);
  }
  await client.query('SET SESSION sql_mode = DEFAULT, collation_connection = DEFAULT, time_zone = DEFAULT');
};
