import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { runDump } from '#shared/jobs/dump.ts';
import { clientArgs, connectMysql, mysqlTls } from '#shared/jobs/mysql/connection.ts';
import { MysqlDumpTool, parseMysqlVersion } from '#shared/jobs/mysql/dump-tool.ts';
import { findMarker, rollForward, writeMarker } from '#shared/jobs/mysql/staging.ts';
import { runRestore } from '#shared/jobs/restore.ts';
import type { Compression } from '#shared/schemas/backup.ts';
import { BUCKET, decompress, multipartUploads, objectBytes, runWithInput, sha256Of } from './fixtures.ts';
import {
  changeMysqlEverything,
  databases,
  loadMysqlSample,
  loadThroughPlan,
  type MysqlJobsFixture,
  mysqlFingerprint,
  startMysqlJobsFixture,
} from './mysql-fixtures.ts';

/**
 * The MySQL dump tool against a real MariaDB 10.11 (mariadbd, mariadb-dump, mariadb) and s3rver:
 * the job's user has ALL on its database and the two restore databases, nothing global.
 */
let fixture: MysqlJobsFixture;
let db: mysql.Connection;
const tool = new MysqlDumpTool();

beforeAll(async () => {
  fixture = await startMysqlJobsFixture();
  db = await fixture.mariadb.client();
  await loadMysqlSample(db);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
});

/** Each group of tests starts from the sample: the groups before may have left changes. */
const resetToSample = async () => {
  const admin = await fixture.mariadb.admin();
  try {
    await admin.query(
      'DROP DATABASE app; CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
    );
  } finally {
    await admin.end();
  }
  await db.query('USE app');
  await loadMysqlSample(db);
};

const target = (key: string) => ({ client: fixture.s3.client, bucket: BUCKET, key });
const dump = (key: string, compression: Compression = 'zstd') =>
  runDump({
    connection: fixture.mariadb.connection,
    engine: 'mysql',
    s3: target(key),
    compression,
    estimatedBytes: 1024 ** 3,
  });
const restore = (key: string, sha256: string, options: { restoreId: string; signal?: AbortSignal }) =>
  runRestore({
    connection: fixture.mariadb.connection,
    engine: 'mysql',
    s3: target(key),
    compression: key.endsWith('.gz') ? 'gzip' : 'zstd',
    expectedSha256: sha256,
    ...options,
  });
/** Replaces an artifact with other bytes (and returns their SHA-256, for a "matching" checksum). */
const putArtifact = async (key: string, bytes: Buffer): Promise<string> => {
  await fixture.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
  return sha256Of(bytes);
};
const compress = async (bytes: Buffer): Promise<Buffer> => {
  const { code, stdout, stderr } = await runWithInput('zstd', ['-q', '-c'], bytes);
  if (code !== 0) throw new Error(`zstd failed: ${stderr}`);
  return stdout;
};

const prepare = async (restoreId: string) => {
  const { connection } = fixture.mariadb;
  return tool.prepareRestore(connection, await tool.inspect(connection, 'test'), {
    applicationName: 'addons-restore',
    restoreId,
    lockTimeoutMs: 10_000,
  });
};

describe('the MySQL dump tool', () => {
  it('reads the server version, its major as the catalog names it, and the database size', async () => {
    const server = await tool.inspect(fixture.mariadb.connection, 'test');
    expect(server.version).toMatch(/^10\.11\.\d+-MariaDB$/);
    expect(server.major).toBe('10.11');
    expect(server.databaseBytes).toBeGreaterThan(1024 ** 2);
  });

  it('names MySQL and MariaDB majors by their first two numbers', () => {
    expect(parseMysqlVersion('10.11.19-MariaDB-0+deb12u1')).toEqual({
      version: '10.11.19-MariaDB',
      major: '10.11',
    });
    expect(parseMysqlVersion('8.0.39')).toEqual({ version: '8.0.39', major: '8.0' });
    expect(parseMysqlVersion('8.4.3-log')).toEqual({ version: '8.4.3', major: '8.4' });
  });

  it('fails a wrong password as ConnectionFailed and a closed port as transient', async () => {
    const { connection } = fixture.mariadb;
    const denied = await tool.inspect({ ...connection, password: 'wrong' }, 'test').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ProviderError);
    expect(denied).toMatchObject({ code: 'ConnectionFailed' });
    expect((denied as Error).message).toMatch(/Access denied/);
    const refused = await tool.inspect({ ...connection, port: 1 }, 'test').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransientError);
  });

  it('passes the password in the environment only, and dumps without CREATE DATABASE or USE', async () => {
    const { connection } = fixture.mariadb;
    const command = await tool.dumpCommand(connection, await tool.inspect(connection, 'test'), 'test');
    expect(command.args.join(' ')).not.toContain(connection.password);
    expect(command.env.MYSQL_PWD).toBe(connection.password);
    expect(command.args).not.toContain('--databases');
    expect(command.args.at(-1)).toBe(connection.database);
    expect(command.toolVersion).toMatch(/MariaDB/);
  });

  it('verifies the server with the job image’s CA bundle, else follows the addon’s TLS', () => {
    const { connection } = fixture.mariadb;
    const forced = { ADDONS_MYSQL_SSL_MODE: 'verify-identity', ADDONS_MYSQL_SSL_CA: '/ca.pem' };
    expect(mysqlTls({ tls: false }, forced)).toEqual({ mode: 'verify-identity', ca: '/ca.pem' });
    expect(clientArgs(connection, forced)).toEqual(
      expect.arrayContaining(['--ssl', '--ssl-ca=/ca.pem', '--ssl-verify-server-cert']),
    );
    expect(() => mysqlTls({ tls: true }, { ADDONS_MYSQL_SSL_MODE: 'verify-identity' })).toThrow(
      /ADDONS_MYSQL_SSL_CA/,
    );
    expect(mysqlTls({ tls: true }, { ADDONS_MYSQL_SSL_CA: '/ca.pem' })).toEqual({
      mode: 'verify-identity',
      ca: '/ca.pem',
    });
    expect(mysqlTls({ tls: true }, {})).toEqual({ mode: 'require' });
    expect(mysqlTls({ tls: false }, {})).toEqual({ mode: 'prefer' });
    expect(clientArgs(connection, {}).some((arg) => arg.startsWith('--ssl'))).toBe(false);
  });

  it('classifies the client tools’ failures', () => {
    const transient = [
      'mariadb-dump: Got error: 2013: Lost connection to server during query when dumping table `events` at row: 10',
      'ERROR 2006 (HY000) at line 120: Server has gone away',
      "mariadb-dump: Got error: 2002: \"Can't connect to server on '10.0.0.1' (115)\" when trying to connect",
    ];
    for (const message of transient)
      expect(tool.classifyFailure(message, 'dump')).toBeInstanceOf(TransientError);
    expect(
      tool.classifyFailure(
        "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.2' (using password: YES)",
        'restore',
      ),
    ).toMatchObject({ code: 'ConnectionFailed' });
    // A statement of the dump the user may not run (another DEFINER): the restore itself failed.
    expect(
      tool.classifyFailure(
        'ERROR 1227 (42000) at line 90: Access denied; you need (at least one of) the SUPER privilege(s) for this operation',
        'restore',
      ),
    ).toMatchObject({ code: 'RestoreFailed' });
    expect(tool.classifyFailure('ERROR 1064 (42000) at line 3: You have an error', 'restore')).toMatchObject({
      code: 'RestoreFailed',
    });
  });
});

describe.each<Compression>(['zstd', 'gzip'])('%s dumps through the job pipeline', (compression) => {
  const key = `tests/mysql-round-trip.sql.${compression === 'zstd' ? 'zst' : 'gz'}`;

  it('uploads a plain SQL artifact without CREATE DATABASE or USE, whose SHA-256 is the recorded one', async () => {
    const result = await dump(key, compression);
    const bytes = await objectBytes(fixture.s3.client, key);
    expect(result).toMatchObject({ compression, sizeBytes: bytes.length, sha256: sha256Of(bytes) });
    expect(result.sizeBytes).toBeGreaterThan(result.partSize);
    expect(await multipartUploads(fixture.s3.client)).toEqual([]);
    expect(result.toolVersion).toMatch(/^mariadb-dump .*MariaDB/);
    const script = (await decompress(compression, bytes)).toString('utf8');
    expect(script).toContain('CREATE TABLE `events`');
    expect(script).not.toMatch(/^(CREATE DATABASE|USE )/m);
    expect(script).toMatch(/-- Dump completed on .*\n$/);
  });

  it('restores exactly the state at backup time: tables, views, triggers, routines and events', async () => {
    const before = await mysqlFingerprint(db);
    const result = await dump(key, compression);
    await changeMysqlEverything(db);
    expect(await mysqlFingerprint(db)).not.toEqual(before);

    const restored = await restore(key, result.sha256, { restoreId: `round-trip-${compression}` });

    expect(restored).toMatchObject({ sha256: result.sha256, sizeBytes: result.sizeBytes, verified: true });
    const after = await mysqlFingerprint(db);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(after).toEqual(before);
    expect(await databases(db)).toEqual(['app', 'information_schema']);
  });
});

describe('restores that must not change anything', () => {
  const key = 'tests/mysql-verified.sql.zst';
  let recorded: string;
  let script: Buffer;

  beforeAll(async () => {
    await resetToSample();
    recorded = (await dump(key)).sha256;
    script = await decompress('zstd', await objectBytes(fixture.s3.client, key));
    await changeMysqlEverything(db);
  });

  const expectUntouched = async (run: () => Promise<unknown>, code: RegExp) => {
    const before = await mysqlFingerprint(db);
    const failure = await run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).code).toMatch(code);
    expect(await mysqlFingerprint(db)).toEqual(before);
    expect(await databases(db)).toEqual(['app', 'information_schema']);
    return failure as ProviderError;
  };

  it('fails on a replaced artifact, although it is a valid dump', async () => {
    const other = 'tests/mysql-other.sql.zst';
    await dump(other);
    await putArtifact(key, await objectBytes(fixture.s3.client, other));
    await db.query(`INSERT INTO created_later VALUES (2, 'written after the second dump')`);
    const failure = await expectUntouched(
      () => restore(key, recorded, { restoreId: 'replaced' }),
      /^ChecksumMismatch$/,
    );
    expect(failure.message).toMatch(/SHA-256/);
  });

  it('fails on a dump that breaks off mid-way with an error, although its checksum matches', async () => {
    // After the big tables' rows: the loader has staged most of the data when it fails.
    const at = script.indexOf('\n--\n-- Table structure for table `settings`');
    expect(at).toBeGreaterThan(script.length / 2);
    const garbled = Buffer.concat([
      script.subarray(0, at + 1),
      Buffer.from('THIS IS NOT SQL;\n'),
      script.subarray(at + 1),
    ]);
    const sha = await putArtifact(key, await compress(garbled));
    const failure = await expectUntouched(
      () => restore(key, sha, { restoreId: 'garbled' }),
      /^RestoreFailed$/,
    );
    expect(failure.message).toMatch(/ERROR 1064/);
  });

  it('fails on a dump cut short at a statement boundary, although its checksum matches', async () => {
    // Every statement before the cut is valid: only the missing end tells.
    const text = script.toString('latin1');
    const cut = text.lastIndexOf('\n--\n-- Table structure for table `settings`');
    expect(cut).toBeGreaterThan(0);
    const sha = await putArtifact(key, await compress(Buffer.from(text.slice(0, cut + 1), 'latin1')));
    await expectUntouched(() => restore(key, sha, { restoreId: 'truncated' }), /^RestoreFailed$/);
  });

  it('leaves the data untouched when aborted while the dump is loading', async () => {
    const sha = await putArtifact(key, await compress(script));
    const controller = new AbortController();
    let settled = false;
    const watcher = await fixture.mariadb.client();
    // Aborts once the loader has created a table in the staging database.
    const abortWhenStaging = async () => {
      const deadline = Date.now() + 60_000;
      while (!settled && Date.now() < deadline) {
        const [rows] = await watcher.query<RowDataPacket[]>(
          `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'addons_restore'`,
        );
        if (Number(rows[0]?.n) > 0) return controller.abort(new Error('stopped by the test'));
      }
    };
    try {
      const failure = await expectUntouched(async () => {
        const watching = abortWhenStaging();
        try {
          return await restore(key, sha, { restoreId: 'aborted', signal: controller.signal });
        } finally {
          settled = true;
          await watching;
        }
      }, /^Aborted$/);
      expect(controller.signal.aborted).toBe(true);
      expect(failure.message).toMatch(/stopped by the test/);
    } finally {
      await watcher.end();
    }
  });
});

describe('a restore retried after its run crashed past the marker', () => {
  beforeAll(() => resetToSample());

  it('finishes the committed restore without reading the artifact again', async () => {
    const key = 'tests/mysql-resumed.sql.zst';
    const backup = await mysqlFingerprint(db);
    const { sha256 } = await dump(key);
    // The crashed run: loaded, verified, marked, swapped, then gone before the objects came back.
    const plan = await prepare('resumed');
    await loadThroughPlan(fixture.mariadb.connection, plan);
    await changeMysqlEverything(db);
    const control = await connectMysql(fixture.mariadb.connection);
    try {
      await writeMarker(control, 'resumed');
      await rollForward(control, 'app', 10_000, 'swap');
    } finally {
      await control.end();
    }
    // Reading the artifact would fail now: the retry must not need it.
    await fixture.s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));

    const result = await restore(key, sha256, { restoreId: 'resumed' });

    expect(result).toMatchObject({ sha256, verified: true });
    expect(await mysqlFingerprint(db)).toEqual(backup);
    expect(await databases(db)).toEqual(['app', 'information_schema']);
  });
});

describe('the staging restore, step by step', () => {
  beforeAll(() => resetToSample());

  it('restores exactly the state of the dump and removes the staging databases', async () => {
    const before = await mysqlFingerprint(db);
    const plan = await prepare('step-round-trip');
    expect(plan.alreadyLoaded).toBeUndefined();
    const tail = await loadThroughPlan(fixture.mariadb.connection, plan);
    expect(plan.heldTail?.isComplete(tail)).toBe(true);
    await changeMysqlEverything(db);
    expect(await mysqlFingerprint(db)).not.toEqual(before);

    await plan.commit?.();

    expect(await mysqlFingerprint(db)).toEqual(before);
    expect(await databases(db)).toEqual(['app', 'information_schema']);
  });

  it('rejects a script that does not end as mariadb-dump ends it', async () => {
    const plan = await prepare('step-tail');
    expect(plan.heldTail?.isComplete('INSERT INTO `events` VALUES (1);\n')).toBe(false);
    expect(
      plan.heldTail?.isComplete(
        '/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n-- Dump completed on 2026-01-01 00:00:00\n',
      ),
    ).toBe(true);
    await plan.discard?.();
    expect(await databases(db)).toEqual(['app', 'information_schema']);
  });

  it.each(['marker', 'swap', 'recreate'] as const)(
    'rolls forward on the next run after a crash past the marker (stopped after the %s)',
    async (stop) => {
      const restoreId = `step-crash-${stop}`;
      const backup = await mysqlFingerprint(db);
      const plan = await prepare(restoreId);
      await loadThroughPlan(fixture.mariadb.connection, plan);
      await changeMysqlEverything(db);
      const changed = await mysqlFingerprint(db);

      // The commit's first steps, then the "crash": the job dies with its connection.
      const control = await connectMysql(fixture.mariadb.connection);
      try {
        await writeMarker(control, restoreId);
        if (stop !== 'marker') await rollForward(control, 'app', 10_000, stop);
      } finally {
        await control.end();
      }
      if (stop === 'marker') expect(await mysqlFingerprint(db)).toEqual(changed);
      // A discard by the crashed run's cleanup must keep a committed restore.
      await plan.discard?.();

      const again = await prepare(restoreId);
      expect(again.alreadyLoaded).toBe(true);
      await again.commit?.();

      expect(await mysqlFingerprint(db)).toEqual(backup);
      expect(await databases(db)).toEqual(['app', 'information_schema']);
    },
  );

  it('finishes a swapped restore of another operation before staging a new one', async () => {
    const backup = await mysqlFingerprint(db);
    const first = await prepare('step-abandoned');
    await loadThroughPlan(fixture.mariadb.connection, first);
    await changeMysqlEverything(db);
    const control = await connectMysql(fixture.mariadb.connection);
    try {
      await writeMarker(control, 'step-abandoned');
      await rollForward(control, 'app', 10_000, 'swap');
      expect(await findMarker(control)).toEqual({ database: 'addons_retired', restoreId: 'step-abandoned' });
    } finally {
      await control.end();
    }

    const next = await prepare('step-next');
    expect(next.alreadyLoaded).toBeUndefined();
    // The abandoned restore's objects are back before anything else happens.
    expect(await mysqlFingerprint(db)).toEqual(backup);
    await next.discard?.();
    expect(await databases(db)).toEqual(['app', 'information_schema']);
  });

  it('loads the dump’s ALTER DATABASE statements into the staging database, never the live one', async () => {
    // The routines were created under utf8mb4; mariadb-dump now wraps each in ALTER DATABASE
    // `app` ... and back, which must not touch `app` before the point of no return.
    const admin = await fixture.mariadb.admin();
    try {
      await admin.query('ALTER DATABASE app CHARACTER SET latin1 COLLATE latin1_swedish_ci');
      await admin.query(
        `SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log; SET GLOBAL general_log = 1`,
      );
      const plan = await prepare('step-alter-database');
      await loadThroughPlan(fixture.mariadb.connection, plan);
      await admin.query('SET GLOBAL general_log = 0');
      const [statements] = await admin.query<RowDataPacket[]>(
        `SELECT CONVERT(argument USING utf8mb4) AS statement FROM mysql.general_log
          WHERE command_type = 'Query' AND argument LIKE 'ALTER DATABASE%'`,
      );
      const altered = statements.map((row) => String(row.statement));
      expect(altered.length).toBeGreaterThan(0);
      expect(altered.filter((statement) => statement.includes('`app`'))).toEqual([]);
      await plan.commit?.();
      expect(await databases(db)).toEqual(['app', 'information_schema']);
    } finally {
      await admin.query('SET GLOBAL general_log = 0; TRUNCATE mysql.general_log');
      await admin.query('ALTER DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
      await admin.end();
    }
  });
});
