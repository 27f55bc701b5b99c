import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '#shared/errors.ts';
import { runLiveImport } from '#shared/jobs/live-import.ts';
import type { LiveSourceTool } from '#shared/jobs/live-source.ts';
import { PostgresLiveSource } from '#shared/jobs/postgresql/live-source.ts';
import type { Tool } from '#shared/jobs/processes.ts';
import { fingerprint, loadSampleData } from './fixtures.ts';
import { startTestPostgres, type TestPostgres } from './postgres-server.ts';

/**
 * The live-import pipeline on its own (shared/jobs/live-import.ts), between two real PostgreSQL
 * servers: the source streamed into the target; a dump that dies midway, and a source newer than
 * the target, leave the target exactly as it was; no failure message carries the password.
 */
let source: TestPostgres;
let target: TestPostgres;

beforeAll(async () => {
  [source, target] = await Promise.all([
    startTestPostgres({ database: 'shop' }),
    startTestPostgres({ database: 'addon' }),
  ]);
  const client = await source.client();
  try {
    await loadSampleData(client, 60_000);
  } finally {
    await client.end();
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

const targetPrint = async () => {
  const client = await target.client();
  try {
    return await fingerprint(client);
  } finally {
    await client.end();
  }
};

/** The real source tool, with its dump cut after `bytes` by `head` (pg_dump then dies of SIGPIPE). */
const truncatingSource = (bytes: number): LiveSourceTool => {
  const real = new PostgresLiveSource();
  return {
    inspect: (credentials) => real.inspect(credentials),
    loadsInto: (from, into) => real.loadsInto(from, into),
    dumpCommand: async (credentials, server) => {
      const dump = await real.dumpCommand(credentials, server);
      const bash: Tool = { name: 'pg_dump', path: 'bash', install: 'apt-get install bash' };
      return {
        ...dump,
        tool: bash,
        args: ['-c', `set -o pipefail; "${dump.tool.path}" ${dump.args.join(' ')} | head -c ${bytes}`],
      };
    },
  };
};

describe('runLiveImport', () => {
  it('leaves the target untouched when the dump dies midway, and names no password', async () => {
    const seed = await target.client();
    await seed.query('CREATE TABLE mine (id int PRIMARY KEY)');
    await seed.query('INSERT INTO mine SELECT generate_series(1, 100)');
    await seed.end();
    const before = await targetPrint();
    const error = await runLiveImport({
      connection: target.connection,
      source: source.connection,
      engine: 'postgresql',
      sourceTool: truncatingSource(200_000),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('SourceDumpFailed');
    expect(String((error as Error).message)).not.toContain(source.connection.password);
    expect(await targetPrint()).toEqual(before);
  }, 120_000);

  it('refuses a source newer than the target before touching it', async () => {
    const before = await targetPrint();
    const real = new PostgresLiveSource();
    const newer: LiveSourceTool = {
      inspect: async (credentials) => ({
        ...(await real.inspect(credentials)),
        major: '99',
        version: '99.1',
      }),
      dumpCommand: (credentials, server) => real.dumpCommand(credentials, server),
      loadsInto: (from, into) => real.loadsInto(from, into),
    };
    await expect(
      runLiveImport({
        connection: target.connection,
        source: source.connection,
        engine: 'postgresql',
        sourceTool: newer,
      }),
    ).rejects.toMatchObject({
      code: 'SourceTooNew',
      message: expect.stringContaining(`127.0.0.1:${source.connection.port}`),
    });
    expect(await targetPrint()).toEqual(before);
  }, 60_000);

  it("streams the source into the target: the target's tables become the source's", async () => {
    const client = await source.client();
    const atSource = await fingerprint(client);
    await client.end();
    const result = await runLiveImport({
      connection: target.connection,
      source: source.connection,
      engine: 'postgresql',
    });
    expect(result.sourceVersion).toMatch(/^15\./);
    expect(await targetPrint()).toEqual(atSource);
  }, 120_000);
});
