import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { BACKGROUND_NICENESS } from '#infra/local/priority.ts';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import {
  type InstanceSpec,
  pointInTimeKey,
  type RestorableWindow,
  type RestoreState,
} from '#shared/ports/engine-provider.ts';
import { autogroupNice } from '../support/processes.ts';
import { localSpec, poll } from './support/local-engines.ts';

/**
 * Point-in-time recovery of local PostgreSQL on real servers: WAL archived into the S3 emulator by
 * archive_command, base backups, recovery to a time between two known writes, in place and into
 * another instance (a fork, also from a deleted source). The tests run in order and share state.
 */

const SRC = 'addon-01jtestpitrsource';
const FORK = 'addon-01jtestpitrfork';
const BUCKET = 'pitr-test';
const WAIT_MS = 120_000;

const specOf = (resourceId: string): InstanceSpec =>
  localSpec({
    resourceId,
    addonId: resourceId.replace(/^addon-/, 'adn-'),
    engine: 'postgresql',
    version: '15',
    database: 'ledger_db',
    username: 'ledgeradmin',
    password: 'Pw7pitrabcdefghijkmnopqrstuvwxyz',
  });

let dataDir: string;
let s3: S3Emulator;
let supervisor: LocalEngineSupervisor;
const logs: Array<{ msg: string; extra?: object }> = [];
/** A time between the commits of row 'A' and row 'B'. */
let between = '';

const portOf = async (id: string): Promise<number> => {
  const state = await supervisor.describeInstance(id);
  if (state.status !== 'available') throw new Error(`${id} is ${JSON.stringify(state)}`);
  return state.endpoint.port;
};

const sql = async (id: string, text: string): Promise<Array<Record<string, unknown>>> => {
  const spec = specOf(id);
  const client = new pg.Client({
    host: '127.0.0.1',
    port: await portOf(id),
    user: spec.username,
    password: spec.password,
    database: spec.database,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
};

const names = async (id: string): Promise<string[]> =>
  (await sql(id, 'SELECT name FROM entries ORDER BY name')).map((row) => String(row.name));

const restoreSettled = (state: RestoreState) => state.status !== 'restoring';
const waitForRestore = (id: string, source: string, time: string, restoreId: string) =>
  poll(
    () => supervisor.describeRestore(id, pointInTimeKey(source, time), restoreId),
    restoreSettled,
    WAIT_MS,
  );

const covers = (window: RestorableWindow | null, time: string): boolean =>
  window !== null &&
  Date.parse(window.earliestRestorableTime) <= Date.parse(time) &&
  Date.parse(window.latestRestorableTime) >= Date.parse(time);

beforeAll(async () => {
  process.env.ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS = '1';
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'addons-pitr-'));
  s3 = await startS3(dataDir);
  await ensureBucket(s3.client, BUCKET);
  supervisor = new LocalEngineSupervisor({
    dataDir,
    log: (msg, extra) => logs.push({ msg, ...(extra ? { extra } : {}) }),
    walArchive: {
      client: s3.client,
      endpoint: s3.endpoint,
      bucket: BUCKET,
      prefix: 'pitr/',
      // As the platform runs it: bundled, run by the instance's own OS user.
      commandDir: path.join(dataDir, 'bin'),
    },
  });
  await supervisor.createInstance(specOf(SRC));
  await supervisor.createInstance(specOf(FORK));
}, WAIT_MS);

afterAll(async () => {
  await supervisor?.stopAll();
  await s3?.stop();
  delete process.env.ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS;
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
}, WAIT_MS);

describe('local PostgreSQL point-in-time recovery', () => {
  it(
    'archives WAL and a base backup, and shows a window once a commit follows it',
    async () => {
      await expect(supervisor.describeRestorableWindow(SRC)).resolves.toBeNull();
      await supervisor.archiveMaintenance();
      expect(logs.map((each) => each.msg)).toContain('engine: base backup archived');

      await sql(SRC, 'CREATE TABLE entries (name text PRIMARY KEY)');
      await sql(SRC, "INSERT INTO entries VALUES ('A')");
      // The next whole second after A's commit, once the clock has passed it: B commits after it.
      const afterA = Math.floor(Date.now() / 1000) * 1000 + 1000;
      between = new Date(afterA).toISOString().replace('.000Z', 'Z');
      await poll(
        async () => Date.now(),
        (now) => now > afterA + 50,
        5_000,
      );
      await sql(SRC, "INSERT INTO entries VALUES ('B')");
      expect(await names(SRC)).toEqual(['A', 'B']);

      // archive_timeout (1 s here) ships the segment holding B: the window then reaches `between`.
      const window = await poll(
        () => supervisor.describeRestorableWindow(SRC),
        (each) => covers(each, between),
        WAIT_MS,
      );
      expect(Date.parse(window?.latestRestorableTime ?? '')).toBeLessThan(Date.now());
    },
    WAIT_MS,
  );

  it("runs the archiver's session below the customers' while a job runs: the archive command runs in it", async () => {
    // The archiver is a child of the server, titled by PostgreSQL `postgres: archiver ...`.
    const server = supervisor.servingInstances().find(({ ctx }) => ctx.resourceId === SRC)?.pid;
    const children = (await fs.readFile(`/proc/${server}/task/${server}/children`, 'utf8')).trim().split(' ');
    const titles = await Promise.all(
      children.map(async (pid) => [Number(pid), await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')] as const),
    );
    const archiver = titles.find(([, title]) => title.startsWith('postgres: archiver'))?.[0] ?? 0;
    expect(archiver).toBeGreaterThan(0);
    expect(autogroupNice(archiver)).toBe(0);
    const running = new AbortController();
    const watching = supervisor.lowerJobSessions([SRC], running.signal);
    try {
      await poll(
        async () => autogroupNice(archiver),
        (nice) => nice === BACKGROUND_NICENESS,
        15_000,
      );
    } finally {
      running.abort();
      await watching;
    }
  });

  it('refuses a time outside the window without touching the instance', async () => {
    await expect(
      supervisor.restoreToPointInTime(SRC, SRC, '2001-01-01T00:00:00Z', 'op-outside'),
    ).rejects.toMatchObject({ code: 'OutsideRestorableWindow', message: expect.stringMatching(/window/) });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await expect(supervisor.restoreToPointInTime(FORK, SRC, future, 'op-future')).rejects.toMatchObject({
      code: 'OutsideRestorableWindow',
    });
    expect(await names(SRC)).toEqual(['A', 'B']);
  });

  it(
    'forks the point in time into another instance: A present, B absent, the source untouched',
    async () => {
      await supervisor.restoreToPointInTime(FORK, SRC, between, 'op-fork');
      await expect(waitForRestore(FORK, SRC, between, 'op-fork')).resolves.toEqual({ status: 'available' });
      expect(await names(FORK)).toEqual(['A']);
      expect(await names(SRC)).toEqual(['A', 'B']);
      // The fork writes like any instance.
      await sql(FORK, "INSERT INTO entries VALUES ('C')");
      expect(await names(FORK)).toEqual(['A', 'C']);
    },
    WAIT_MS,
  );

  it(
    'a discarded restore puts the previous data back',
    async () => {
      await supervisor.restoreToPointInTime(SRC, SRC, between, 'op-discard');
      await expect(supervisor.discardRestore(SRC, pointInTimeKey(SRC, between), 'op-discard')).resolves.toBe(
        'discarded',
      );
      await poll(
        () => supervisor.describeInstance(SRC),
        (state) => state.status === 'available',
        WAIT_MS,
      );
      expect(await names(SRC)).toEqual(['A', 'B']);
    },
    WAIT_MS,
  );

  it(
    'restores in place to the time between the two writes',
    async () => {
      await supervisor.restoreToPointInTime(SRC, SRC, between, 'op-in-place');
      await expect(waitForRestore(SRC, SRC, between, 'op-in-place')).resolves.toEqual({
        status: 'available',
      });
      expect(await names(SRC)).toEqual(['A']);
      // Idempotent: the same call again changes nothing.
      await supervisor.restoreToPointInTime(SRC, SRC, between, 'op-in-place');
      await expect(
        supervisor.describeRestore(SRC, pointInTimeKey(SRC, between), 'op-in-place'),
      ).resolves.toEqual({
        status: 'available',
      });
      // The restored data is a new archive history; the window still covers the earlier one.
      expect(covers(await supervisor.describeRestorableWindow(SRC), between)).toBe(true);
    },
    WAIT_MS,
  );

  it(
    'forks from a deleted source while its archive is kept',
    async () => {
      await supervisor.deleteInstance(SRC);
      const window = await supervisor.describeRestorableWindow(SRC);
      expect(covers(window, between)).toBe(true);
      await supervisor.restoreToPointInTime(FORK, SRC, between, 'op-fork-deleted');
      await expect(waitForRestore(FORK, SRC, between, 'op-fork-deleted')).resolves.toEqual({
        status: 'available',
      });
      expect(await names(FORK)).toEqual(['A']);
    },
    WAIT_MS,
  );
});
