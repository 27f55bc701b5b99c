import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import type { JobSpec } from '#shared/schemas/job.ts';
import {
  BUCKET,
  fingerprint,
  type JobsFixture,
  jobSessions,
  loadSampleData,
  multipartUploads,
  objectBytes,
  sha256Of,
  startJobsFixture,
} from './fixtures.ts';

/**
 * The job as the local target and the Fargate task run it: a process given JOB_SPEC, reading the
 * connection details from the secret store, logging JSON lines, exiting with its status.
 */
const entry = (name: string) => fileURLToPath(new URL(`../../functions/jobs/${name}.ts`, import.meta.url));
const ref = { projectId: 'prj', addonId: 'adn' };
const artifact = { bucket: BUCKET, key: 'dumps/prj/adn/bkp.dump.zst' };
const dumpSpec: JobSpec = {
  kind: 'dump',
  operationId: 'op-dump',
  ...ref,
  backupId: 'bkp',
  engine: 'postgresql',
  artifact,
  resultKey: `${artifact.key}.result.json`,
  compression: 'zstd',
  estimatedBytes: 10 * 1024 ** 3,
};

let fixture: JobsFixture;
let db: pg.Client;
let secretsDir: string;

beforeAll(async () => {
  fixture = await startJobsFixture();
  db = await fixture.postgres.client();
  await loadSampleData(db, 20_000);
  secretsDir = join(fixture.dir, 'secrets');
  await new FileSecretStore(secretsDir).put(ref, fixture.postgres.connection);
});

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
});

interface JobRun {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exit: Promise<number | null>;
}

const startJob = (spec: unknown, script: 'dump' | 'restore', argv: string[] = []): JobRun => {
  const child = spawn(process.execPath, ['--import', 'tsx', entry(script), ...argv], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      JOB_SPEC: JSON.stringify(spec),
      ADDONS_SECRETS_DIR: secretsDir,
      ADDONS_S3_ENDPOINT: fixture.s3.endpoint,
      ADDONS_LOG_LEVEL: 'INFO',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop() ?? '';
    for (const line of complete) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr?.resume();
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, lines, exit };
};

describe('the job process', () => {
  it('dumps, stores the result beside the artifact, and restores it', async () => {
    const before = await fingerprint(db);
    const dump = startJob(dumpSpec, 'dump');

    expect(await dump.exit).toBe(0);
    const last = dump.lines.at(-1);
    expect(last).toMatchObject({
      level: 'info',
      message: 'dump completed',
      job: 'dump',
      operationId: 'op-dump',
    });
    expect(last?.maxRssBytes).toEqual(expect.any(Number));
    const recorded = await new BackupArtifacts({ client: fixture.s3.client, bucket: BUCKET }).readResult(
      artifact,
    );
    const bytes = await objectBytes(fixture.s3.client, artifact.key);
    expect(recorded).toMatchObject({ sizeBytes: bytes.length, sha256: sha256Of(bytes), compression: 'zstd' });

    await db.query('DROP TABLE settings; CREATE TABLE newer (x int)');
    const restore = startJob(
      {
        kind: 'restore',
        operationId: 'op-restore',
        ...ref,
        backupId: 'bkp',
        engine: 'postgresql',
        artifact,
        compression: 'zstd',
        expectedSha256: recorded?.sha256 ?? '',
      } satisfies JobSpec,
      'restore',
    );

    expect(await restore.exit).toBe(0);
    expect(restore.lines.at(-1)).toMatchObject({ message: 'restore completed', result: { verified: true } });
    expect(await fingerprint(db)).toEqual(before);
  });

  it('stops on SIGTERM: exits 143 with the reason, its pg_dump gone, nothing uploaded', async () => {
    const blocker = await fixture.postgres.client();
    await blocker.query('BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    const job = startJob({ ...dumpSpec, operationId: 'op-stopped' }, 'dump');
    // pg_dump is now waiting for the lock: the job is certainly in the middle of its work.
    for (let waited = 0; ; waited += 50) {
      const { rows } = await db.query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = 'addons-dump' AND wait_event_type = 'Lock'`,
      );
      if (rows.length) break;
      if (waited > 20_000) throw new Error('pg_dump never started');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    job.child.kill('SIGTERM');

    const code = await job.exit;
    await blocker.query('ROLLBACK');
    await blocker.end();

    expect(code).toBe(143);
    expect(job.lines.at(-1)).toMatchObject({
      level: 'error',
      errorName: 'ProviderError',
      errorCode: 'Aborted',
      error: 'The dump was aborted: the job process received SIGTERM',
    });
    expect(await jobSessions(db)).toBe(0);
    expect(await multipartUploads(fixture.s3.client)).toEqual([]);
  });

  it('stops by itself when the platform that started it dies: the restore rolls back, nothing keeps writing', async () => {
    const key = 'dumps/prj/adn/bkp-orphan.dump.zst';
    const dump = startJob(
      {
        ...dumpSpec,
        operationId: 'op-orphan-dump',
        artifact: { bucket: BUCKET, key },
        resultKey: `${key}.result.json`,
      },
      'dump',
    );
    expect(await dump.exit).toBe(0);
    const recorded = await new BackupArtifacts({ client: fixture.s3.client, bucket: BUCKET }).readResult({
      bucket: BUCKET,
      key,
    });
    await db.query(
      'CREATE TABLE IF NOT EXISTS written_after_dump (x int); INSERT INTO written_after_dump VALUES (1)',
    );
    const before = await fingerprint(db);
    const blocker = await fixture.postgres.client();
    await blocker.query('BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    const unblock = async () => {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end().catch(() => undefined);
    };
    onTestFinished(unblock);
    const spec: JobSpec = {
      kind: 'restore',
      operationId: 'op-orphan-restore',
      ...ref,
      backupId: 'bkp-orphan',
      engine: 'postgresql',
      artifact: { bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: recorded?.sha256 ?? '',
    };
    // A stand-in for the platform: it starts the job, then is SIGKILLed (no cleanup at all).
    const platform = spawn(
      process.execPath,
      [
        '-e',
        `require('node:child_process').spawn(process.execPath, ['--import', 'tsx', ${JSON.stringify(entry('restore'))}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          JOB_SPEC: JSON.stringify(spec),
          ADDONS_SECRETS_DIR: secretsDir,
          ADDONS_S3_ENDPOINT: fixture.s3.endpoint,
          ADDONS_LOG_LEVEL: 'INFO',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    platform.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    // The job's own stdout is the same pipe: it closes when the job (the last writer) exits.
    const jobGone = new Promise<void>((resolve) => platform.stdout?.once('close', () => resolve()));
    for (let waited = 0; ; waited += 50) {
      const { rows } = await db.query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = 'addons-restore' AND wait_event_type = 'Lock'`,
      );
      if (rows.length) break;
      if (waited > 20_000) throw new Error(`the restore never started:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    platform.kill('SIGKILL');
    await jobGone;
    await unblock();

    expect(output).toMatch(/the process that started the job is gone: stopping/);
    // The abort is the reported cause, not what the killed loader's death did to the tools upstream.
    const failed = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message?: string; error?: string })
      .find((line) => line.message === 'restore failed');
    expect(failed?.error).toMatch(/^The restore was aborted: the job process received SIGTERM/);
    expect(await jobSessions(db)).toBe(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('refuses a spec it cannot run, saying why', async () => {
    const invalid = startJob({ kind: 'dump', operationId: 'x' }, 'dump');
    expect(await invalid.exit).toBe(1);
    expect(invalid.lines.at(-1)).toMatchObject({
      level: 'error',
      error: expect.stringMatching(/^Invalid job spec/),
    });

    const wrongEntry = startJob(dumpSpec, 'restore');
    expect(await wrongEntry.exit).toBe(1);
    expect(wrongEntry.lines.at(-1)?.error).toBe('This entry point runs restore jobs, the spec is a dump');
  });

  it('takes the spec as its argument too', async () => {
    const job = startJob({}, 'dump', [JSON.stringify({ ...dumpSpec, operationId: 'op-argv' })]);
    expect(await job.exit).toBe(0);
    expect(job.lines.at(-1)).toMatchObject({ message: 'dump completed', operationId: 'op-argv' });
  });
});
