import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  assertRecovered as recovered,
  startCrashablePlatformWithAddon,
} from '../support/crashable-platform.ts';
import { pollUntil } from '../support/http.ts';
import { type Api, backUpAndWait } from '../support/operations.ts';

/**
 * The platform SIGKILLed while a MySQL dump backup or dump restore is in progress, then started
 * again on the same data directory: the operation ends completed or failed, the addon is running
 * and unlocked, takes backups again, and its data is the backup's or exactly what it was before.
 */
const TOKEN = 'e2e-mysql-crash-token-0123456789';
const PROJECT = 'mysql-crash';

interface Connection {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
}

const args = (connection: Connection) => [
  `--host=${connection.host}`,
  `--port=${connection.port}`,
  `--user=${connection.username}`,
  `--database=${connection.database}`,
  '--batch',
  '--skip-column-names',
  '--connect-timeout=5',
];

const mariadb = (connection: Connection, statements: string): string[][] => {
  const run = spawnSync('mariadb', args(connection), {
    input: statements,
    env: { ...process.env, MYSQL_PWD: connection.password },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`mariadb exited ${run.status}: ${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'));
};

/** CHECKSUM TABLE of every base table. */
const fingerprint = (connection: Connection) => {
  const tables = mariadb(
    connection,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
  ).map(([name]) => name as string);
  return Object.fromEntries(
    tables.map((table) => [table, mariadb(connection, `CHECKSUM TABLE \`${table}\` EXTENDED`)[0]?.[1]]),
  );
};

/**
 * A session holding `LOCK TABLES accounts WRITE`: the dump's reads and the restore's swap wait for
 * it, so the operation is certainly in progress when the platform is killed. The restart restarts
 * the server, which ends this session.
 */
const blockAccounts = (connection: Connection) => {
  const session = spawn('mariadb', args(connection), {
    env: { ...process.env, MYSQL_PWD: connection.password },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  session.stdin.write('LOCK TABLES accounts WRITE;\nSELECT SLEEP(600);\n');
  onTestFinished(() => {
    session.kill('SIGKILL');
  });
};

const waitingOnLock = (connection: Connection) =>
  pollUntil(
    async () =>
      mariadb(
        connection,
        "SELECT COUNT(*) FROM information_schema.processlist WHERE state LIKE 'Waiting for table metadata lock%'",
      ),
    (rows) => Number(rows[0]?.[0]) > 0,
    { what: 'a job to wait on the table lock', timeoutMs: 60_000 },
  );

const operationOf = (api: Api, operationId: string) =>
  api('GET', `/v1/projects/${PROJECT}/operations/${operationId}`).then((response) => response.body);

const startWithAddon = async () => {
  const { credentials: connection, ...addon } = await startCrashablePlatformWithAddon<Connection>({
    token: TOKEN,
    project: PROJECT,
    engine: 'mysql',
    dataDirPrefix: 'addons-e2e-mysql-crash-',
  });
  mariadb(
    connection,
    `CREATE TABLE accounts (id int PRIMARY KEY, owner varchar(80), balance decimal(12,2));
     INSERT INTO accounts SELECT seq, MD5(seq), seq * 10.5 FROM seq_1_to_20000;`,
  );
  return { ...addon, connection };
};

const backUp = async (api: Api, base: string) => {
  const { backupId, operation } = await backUpAndWait(api, PROJECT, base, {
    type: 'dump',
    compression: 'zstd',
  });
  expect(operation).toMatchObject({ status: 'completed', error: null });
  return backupId;
};

const assertRecovered = (api: Api, base: string, operationId: string) =>
  recovered(api, PROJECT, base, operationId);

describe('a crash during a MySQL backup or restore, then a restart', () => {
  it('dump backup: the backup ends completed or failed, and the addon takes backups again', async () => {
    const addon = await startWithAddon();
    blockAccounts(addon.connection);
    const started = await addon.api()('POST', `${addon.base}/backups`, {
      body: { type: 'dump', compression: 'zstd' },
    });
    expect(started.status).toBe(202);
    await waitingOnLock(addon.connection);
    expect((await operationOf(addon.api(), started.body.operation.id)).status).toBe('in-progress');

    const api = await addon.crashAndRestart();

    const operation = await assertRecovered(api, addon.base, started.body.operation.id);
    const backup = (await api('GET', `${addon.base}/backups/${started.body.backup.id}`)).body;
    expect(backup.status).toBe(operation.status);
  }, 300_000);

  it('dump restore: the data is the backup’s or exactly what it was before, with no staging left', async () => {
    const addon = await startWithAddon();
    const atBackup = fingerprint(addon.connection);
    const backupId = await backUp(addon.api(), addon.base);
    mariadb(
      addon.connection,
      'UPDATE accounts SET balance = -1 WHERE id % 3 = 0; CREATE TABLE later (id int);',
    );
    const before = fingerprint(addon.connection);
    blockAccounts(addon.connection);
    const started = await addon.api()('POST', `${addon.base}/backups/${backupId}/restore`);
    expect(started.status).toBe(202);
    await waitingOnLock(addon.connection);

    const api = await addon.crashAndRestart();

    const operation = await assertRecovered(api, addon.base, started.body.operation.id);
    expect(fingerprint(addon.connection)).toEqual(operation.status === 'completed' ? atBackup : before);
    const databases = mariadb(addon.connection, 'SHOW DATABASES').map(([name]) => name);
    expect(databases.filter((name) => name?.startsWith('addons_'))).toEqual([]);
  }, 300_000);
});
