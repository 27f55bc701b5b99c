import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import type { RestorePlan } from '#shared/jobs/dump-tool.ts';
import { MysqlDumpTool } from '#shared/jobs/mysql/dump-tool.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { BUCKET } from './fixtures.ts';
import { startTestMariadb, type TestMariadb } from './mariadb-server.ts';

export interface MysqlJobsFixture {
  mariadb: TestMariadb;
  s3: S3Emulator;
  dir: string;
  stop(): Promise<void>;
}

/** A MariaDB server, s3rver with the test bucket, and a temp directory; `stop` removes them all. */
export const startMysqlJobsFixture = async (): Promise<MysqlJobsFixture> => {
  const dir = await mkdtemp(join(tmpdir(), 'addons-jobs-mysql-test-'));
  const [mariadb, s3] = await Promise.all([startTestMariadb(), startS3(dir)]);
  await ensureBucket(s3.client, BUCKET);
  return {
    mariadb,
    s3,
    dir,
    stop: async () => {
      await Promise.allSettled([mariadb.stop(), s3.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/**
 * Every kind of object a restore must carry: tables with a foreign key between them, binary and
 * non-ASCII data, a sequence, a view over a view, two ordered triggers on one table, a
 * procedure, a function used by a view, and an event. `events` holds hex text so the artifact
 * spans more than one 5 MiB part (zstd -1 makes 60,000 rows 4.8 MiB: 75,000 leave a margin).
 */
export const loadMysqlSample = async (db: mysql.Connection, eventRows = 75_000): Promise<void> => {
  await db.query(`
    CREATE TABLE accounts (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
      balance DECIMAL(12,2), created_at DATETIME(6), avatar BLOB);
    INSERT INTO accounts (name, balance, created_at, avatar)
      SELECT CONCAT('account ', seq, ' é 漢字 🙂'), ROUND(RAND(seq) * 10000, 2),
             NOW(6) - INTERVAL seq MINUTE, UNHEX(MD5(seq))
      FROM seq_1_to_5000;
    CREATE TABLE events (id BIGINT PRIMARY KEY, account_id INT, payload TEXT, score DOUBLE,
      KEY events_account (account_id), CONSTRAINT events_account FOREIGN KEY (account_id) REFERENCES accounts (id));
    INSERT INTO events SELECT seq, 1 + seq % 5000, CONCAT(MD5(seq), SHA2(seq * 31, 256), MD5(seq * 7)), RAND(seq)
      FROM seq_1_to_${eventRows};
    CREATE TABLE settings (k VARCHAR(20) PRIMARY KEY, v JSON);
    INSERT INTO settings SELECT CONCAT('k', seq), JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', 'b')) FROM seq_1_to_500;
    CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, message VARCHAR(200)) ENGINE=InnoDB;
    CREATE SEQUENCE invoice_numbers START WITH 1000 INCREMENT BY 1;
    DO NEXTVAL(invoice_numbers); DO NEXTVAL(invoice_numbers);
    CREATE FUNCTION vip_threshold() RETURNS DECIMAL(12,2) DETERMINISTIC RETURN 5000;
    CREATE VIEW rich_accounts AS SELECT id, name FROM accounts WHERE balance > vip_threshold();
    CREATE VIEW rich_account_count AS SELECT COUNT(*) AS n FROM rich_accounts;
    CREATE TRIGGER accounts_audit AFTER INSERT ON accounts FOR EACH ROW
      INSERT INTO audit_log (message) VALUES (CONCAT('created ', NEW.name));
    CREATE TRIGGER accounts_audit_2 AFTER INSERT ON accounts FOR EACH ROW PRECEDES accounts_audit
      INSERT INTO audit_log (message) VALUES (CONCAT('first ', NEW.id));
    CREATE PROCEDURE add_account(IN account_name VARCHAR(100))
      INSERT INTO accounts (name, balance) VALUES (account_name, 0);
    CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DISABLE
      DO DELETE FROM audit_log WHERE id < 0;
    CALL add_account('made by the procedure');
  `);
};

interface Row extends RowDataPacket {
  [column: string]: unknown;
}

const query = async (db: mysql.Connection, sql: string, values: unknown[] = []) =>
  (await db.query<Row[]>(sql, values))[0];

/**
 * The database's whole state: CHECKSUM TABLE of every table, the sequence's next value, and the
 * definitions of views, triggers (in firing order), routines and events.
 */
export const mysqlFingerprint = async (db: mysql.Connection): Promise<Record<string, string>> => {
  const result: Record<string, string> = {};
  const tables = await query(
    db,
    `SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
  );
  for (const { name, type } of tables) {
    if (type === 'VIEW') {
      const [view] = await query(db, `SHOW CREATE VIEW \`${name}\``);
      result[`view ${name}`] = String(view?.['Create View']);
    } else if (type === 'SEQUENCE') {
      const [sequence] = await query(db, `SELECT next_not_cached_value AS next FROM \`${name}\``);
      result[`sequence ${name}`] = String(sequence?.next);
    } else {
      const [sum] = await query(db, `CHECKSUM TABLE \`${name}\` EXTENDED`);
      const [create] = await query(db, `SHOW CREATE TABLE \`${name}\``);
      result[`table ${name}`] = `${String(sum?.Checksum)} ${String(create?.['Create Table'])}`;
    }
  }
  const triggers = await query(
    db,
    `SELECT TRIGGER_NAME AS name, ACTION_ORDER AS position, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
  );
  for (const { name, position, body } of triggers) result[`trigger ${name}`] = `${position}: ${body}`;
  const routines = await query(
    db,
    `SELECT ROUTINE_TYPE AS type, ROUTINE_NAME AS name, ROUTINE_DEFINITION AS body, SQL_MODE AS mode
      FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()`,
  );
  for (const { type, name, body, mode } of routines) result[`${type} ${name}`] = `${body} [${mode}]`;
  const events = await query(
    db,
    `SELECT EVENT_NAME AS name, EVENT_DEFINITION AS body, STATUS AS status, STARTS AS starts
      FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()`,
  );
  for (const { name, body, status, starts } of events) {
    result[`event ${name}`] = `${body} ${status} ${String(starts)}`;
  }
  return result;
};

/** What users do between a backup and a restore: changed rows, a dropped table, new objects of every kind. */
export const changeMysqlEverything = async (db: mysql.Connection): Promise<void> => {
  await db.query(`
    UPDATE accounts SET balance = balance + 1 WHERE id % 7 = 0;
    DELETE FROM events WHERE id % 10 = 0;
    DROP TABLE settings;
    DROP VIEW rich_account_count;
    DROP TRIGGER accounts_audit_2;
    CREATE TABLE created_later (id INT PRIMARY KEY, note TEXT);
    INSERT INTO created_later VALUES (1, 'must not survive the restore');
    CREATE VIEW later_view AS SELECT * FROM created_later;
    CREATE TRIGGER later_trigger BEFORE UPDATE ON created_later FOR EACH ROW SET NEW.note = 'x';
    CREATE PROCEDURE later_procedure() SELECT 1;
    CREATE EVENT later_event ON SCHEDULE EVERY 1 HOUR DISABLE DO SELECT 1;
    ALTER TABLE accounts ADD COLUMN nickname TEXT;
    CALL add_account('moves the auto increment');
    DO NEXTVAL(invoice_numbers);
  `);
};

/** The databases the job's user can see: the staging and retired ones must be gone. */
export const databases = async (db: mysql.Connection): Promise<string[]> =>
  (await query(db, 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY 1')).map((row) =>
    String(row.name),
  );

/**
 * Loads the database's own dump through a restore plan's filters into its loader the way the
 * pipeline does (without S3 and the compressor), for tests that drive the plan step by step.
 */
export const loadThroughPlan = async (connection: Credentials, plan: RestorePlan): Promise<string> => {
  const tool = new MysqlDumpTool();
  const server = await tool.inspect(connection, 'test');
  const command = await tool.dumpCommand(connection, server, 'test');
  const dumper = spawn(command.tool.path, command.args, {
    env: command.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const children: Array<{ stdout: Readable; stderr: Readable; once: ChildProcess['once'] }> = [dumper];
  let errors = '';
  for (const step of [...plan.filters, plan.loader]) {
    const child = spawn(step.tool.path, step.args, { env: step.env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.at(-1)?.stdout.pipe(child.stdin);
    children.push(child);
  }
  let tail = '';
  for (const child of children) {
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
  }
  children.at(-2)?.stdout.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('latin1')).slice(-(plan.heldTail?.bytes ?? 4096));
  });
  children.at(-1)?.stdout.resume();
  const codes = await Promise.all(
    children.map((child) => new Promise<number | null>((resolve) => child.once('close', resolve))),
  );
  if (codes.some((code) => code !== 0)) throw new Error(`dump or load failed: ${errors}`);
  return tail;
};
