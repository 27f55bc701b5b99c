import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import { MissingToolError, ProviderError, TransientError, UnsupportedError } from '#shared/errors.ts';
import { runDump } from '#shared/jobs/dump.ts';
import type { DumpTool, RestorePlan, ServerInfo, ToolCommand } from '#shared/jobs/dump-tool.ts';
import { dumpToolFor } from '#shared/jobs/dump-tools.ts';
import { PostgresDumpTool } from '#shared/jobs/postgresql/dump-tool.ts';
import { runRestore } from '#shared/jobs/restore.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { BUCKET, multipartUploads, objectBytes } from './fixtures.ts';

const connection: Credentials = {
  engine: 'postgresql',
  host: '127.0.0.1',
  port: 1,
  database: 'app',
  username: 'app',
  password: 'secret',
  uri: 'postgresql://app@127.0.0.1:1/app',
  tls: false,
};
const server: ServerInfo = { version: '15.18', major: '15', databaseBytes: 1024 };

describe('the dump tool registry', () => {
  it('names an engine without a dump tool in an UnsupportedError', () => {
    let error: unknown;
    try {
      dumpToolFor('redis');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnsupportedError);
    expect((error as UnsupportedError).message).toMatch(/redis/);
    expect((error as UnsupportedError).issues).toEqual([
      { path: 'engine', message: expect.stringMatching(/redis/) },
    ]);
  });

  it('gives the PostgreSQL tool for postgresql', () => {
    expect(dumpToolFor('postgresql').engine).toBe('postgresql');
  });
});

describe('the PostgreSQL dump tool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-dump-tools-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds its client tools in ADDONS_PG_BIN_DIR of its environment', async () => {
    const empty = join(dir, 'empty-bin');
    await mkdir(empty, { recursive: true });
    const tool = new PostgresDumpTool({}, { ADDONS_PG_BIN_DIR: empty });

    const error = await tool.dumpCommand(connection, server, 'test').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(MissingToolError);
    expect((error as Error).message).toMatch(/pg_dump is not installed.*postgresql-client/);
  });

  it('classifies a client older than the server, a server going away, and the rest', () => {
    const tool = new PostgresDumpTool();
    expect(
      tool.classifyFailure('pg_dump: error: aborting because of server version mismatch', 'dump'),
    ).toMatchObject({ code: 'ToolTooOld' });
    expect(tool.classifyFailure('psql: server closed the connection unexpectedly', 'restore')).toBeInstanceOf(
      TransientError,
    );
    expect(tool.classifyFailure('pg_dump: error: permission denied', 'dump')).toMatchObject({
      code: 'DumpFailed',
    });
    expect(tool.classifyFailure('psql: ERROR: syntax error', 'restore')).toMatchObject({
      code: 'RestoreFailed',
    });
  });
});

/**
 * The generic pipelines with a dump tool made of shell commands: what any engine's tool gets.
 * The "dump" is `seq`, the loader writes its stdin to a file, commit and discard are recorded.
 */
describe('the generic pipeline with a staging dump tool', () => {
  const LINES = 200_000;
  let dir: string;
  let s3: S3Emulator;

  afterAll(async () => {
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const shell = (name: string, script: string, env: NodeJS.ProcessEnv = {}): ToolCommand => ({
    tool: { name, path: 'sh', install: 'apt-get install dash' },
    args: ['-c', script],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });

  interface Recorded {
    calls: string[];
    /** What the loader had written when commit() ran. */
    loadedAtCommit?: string;
  }

  const stagingTool = (
    recorded: Recorded,
    loader: (staged: string) => ToolCommand,
    extra: Partial<RestorePlan> = {},
  ): DumpTool => ({
    engine: 'mysql',
    inspect: async () => server,
    dumpCommand: async () => ({
      tool: { name: 'seq', path: 'seq', install: 'apt-get install coreutils' },
      args: ['1', String(LINES)],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      toolVersion: 'seq 1.0',
    }),
    prepareRestore: async (_connection, _server, options) => {
      recorded.calls.push(`prepare ${options.restoreId}`);
      const staged = join(dir, `staged-${options.restoreId}`);
      return {
        toolVersion: 'loader 1.0',
        filters: [{ tool: { name: 'filter', path: 'cat', install: '-' }, args: [], env: {} }],
        loader: loader(staged),
        prelude: '-- prelude\n',
        commit: async () => {
          recorded.calls.push('commit');
          recorded.loadedAtCommit = await readFile(staged, 'utf8');
        },
        discard: async () => {
          recorded.calls.push('discard');
        },
        ...extra,
      };
    },
    classifyFailure: (message, phase) =>
      new ProviderError(message, phase === 'dump' ? 'DumpFailed' : 'RestoreFailed'),
  });
  const writer = (staged: string) => shell('loader', 'cat > "$STAGED"', { STAGED: staged });
  const expectedScript = () =>
    `-- prelude\n${Array.from({ length: LINES }, (_, index) => index + 1).join('\n')}\n`;

  let recordedSha: string;
  const key = 'pipeline/seq.dump.zst';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-dump-pipeline-'));
    s3 = await startS3(dir);
    await ensureBucket(s3.client, BUCKET);
    const result = await runDump({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool({ calls: [] }, writer),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
    });
    expect(result.toolVersion).toBe('seq 1.0');
    recordedSha = result.sha256;
  });

  it('commits once the loader exited 0 after the whole script, and never discards', async () => {
    const recorded: Recorded = { calls: [] };
    const result = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: recordedSha,
      restoreId: 'op-1',
    });

    expect(result).toMatchObject({ sha256: recordedSha, verified: true, toolVersion: 'loader 1.0' });
    expect(recorded.calls).toEqual(['prepare op-1', 'commit']);
    expect(recorded.loadedAtCommit).toBe(expectedScript());
  });

  it('without filters, the decompressor feeds the loader directly', async () => {
    const recorded: Recorded = { calls: [] };
    await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer, { filters: [] }),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: recordedSha,
      restoreId: 'op-0',
    });

    expect(recorded.calls).toEqual(['prepare op-0', 'commit']);
    expect(recorded.loadedAtCommit).toBe(expectedScript());
  });

  it('discards and never commits when the artifact is not the recorded one', async () => {
    const recorded: Recorded = { calls: [] };
    const error = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: '0'.repeat(64),
      restoreId: 'op-2',
    }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'ChecksumMismatch' });
    expect(recorded.calls).toEqual(['prepare op-2', 'discard']);
  });

  it('discards and throws the tool-classified failure when the loader fails', async () => {
    const recorded: Recorded = { calls: [] };
    const failing = () => shell('loader', 'cat > /dev/null; echo "loader: simulated failure" >&2; exit 3');
    const error = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, failing),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: recordedSha,
      restoreId: 'op-3',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'RestoreFailed' });
    expect((error as Error).message).toMatch(/^loader exited with code 3: loader: simulated failure/);
    expect(recorded.calls).toEqual(['prepare op-3', 'discard']);
  });

  it('discards on a truncated artifact that still decompresses', async () => {
    const bytes = await objectBytes(s3.client, key);
    const truncatedKey = 'pipeline/truncated.dump.zst';
    await s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: truncatedKey, Body: bytes.subarray(0, bytes.length >> 1) }),
    );
    const recorded: Recorded = { calls: [] };
    const error = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer),
      s3: { client: s3.client, bucket: BUCKET, key: truncatedKey },
      compression: 'zstd',
      restoreId: 'op-4',
    }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'DecompressionFailed' });
    expect(recorded.calls).toEqual(['prepare op-4', 'discard']);
  });

  it('discards when aborted while the loader runs', async () => {
    const recorded: Recorded = { calls: [] };
    const controller = new AbortController();
    // A loader that reads slowly: the abort comes while the script is still streaming.
    const slow = () => shell('loader', 'while read -r line; do sleep 0.001; done');
    const restore = runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, slow),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      signal: controller.signal,
      restoreId: 'op-5',
      onProgress: () => undefined,
    }).catch((caught: unknown) => caught);
    // Abort once prepareRestore has run, i.e. the pipeline is starting.
    await expect.poll(() => recorded.calls.length, { timeout: 10_000 }).toBe(1);
    controller.abort(new Error('stop'));

    expect(await restore).toMatchObject({ code: 'Aborted' });
    expect(recorded.calls).toEqual(['prepare op-5', 'discard']);
  });

  it('does not discard when commit() fails: the next run of the same restore resumes it', async () => {
    const recorded: Recorded = { calls: [] };
    const error = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer, {
        commit: async () => {
          recorded.calls.push('commit');
          throw new Error('the connection dropped during the swap');
        },
      }),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: recordedSha,
      restoreId: 'op-7',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'RestoreFailed' });
    expect((error as Error).message).toMatch(/Committing the restore failed: the connection dropped/);
    expect(recorded.calls).toEqual(['prepare op-7', 'commit']);
  });

  it('leaves no multipart upload behind', async () => {
    expect(await multipartUploads(s3.client)).toEqual([]);
  });

  it('a held tail that does not end as the tool says fails before the loader sees it', async () => {
    const recorded: Recorded = { calls: [] };
    const error = await runRestore({
      connection,
      engine: 'mysql',
      dumpTool: stagingTool(recorded, writer, {
        heldTail: { bytes: 1024, isComplete: (tail) => tail.endsWith('COMMIT;\n') },
      }),
      s3: { client: s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      restoreId: 'op-6',
    }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'RestoreFailed' });
    expect((error as Error).message).toMatch(/did not end as expected/);
    expect(recorded.calls).toEqual(['prepare op-6', 'discard']);
  });
});
