import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/** A machine without the PostgreSQL client tools: the dump fails, saying what to install, and nothing is left. */
let dataDir: string;
let platform: PlatformProcess | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-tools-'));
  // As root, each engine runs as its own OS user, who must be able to walk down to the data directory.
  await chmod(dataDir, 0o755);
  const emptyBin = join(dataDir, 'no-client-tools');
  await mkdir(emptyBin);
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: join(dataDir, 'state'),
    ADDONS_TOKEN: 'missing-tools-token-0123456789',
    ADDONS_PG_BIN_DIR: emptyBin,
  });
});
afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(join(dataDir, 'state'));
  await removePlatformData(dataDir);
});

it('fails a dump backup with a message naming the package to install, and the addon runs on', async () => {
  const api = client(platform?.url ?? '', 'missing-tools-token-0123456789');
  const waitFor = (id: string) =>
    pollUntil(
      () => api('GET', `/v1/projects/t/operations/${id}`),
      (r) => ['completed', 'failed'].includes(r.body.status),
      { what: 'the operation' },
    ).then((r) => r.body);
  const created = await api('POST', '/v1/projects/t/addons', {
    body: { name: 'tools', engine: 'postgresql' },
  });
  expect(await waitFor(created.body.operation.id)).toMatchObject({ status: 'completed', error: null });
  const addonPath = `/v1/projects/t/addons/${created.body.addon.id}`;
  const backup = await api('POST', `${addonPath}/backups`, { body: { type: 'dump' } });
  const operation = await waitFor(backup.body.operation.id);
  expect(operation.status).toBe('failed');
  expect(operation.error.message).toMatch(/pg_dump is not installed.*postgresql-client/);
  const record = await api('GET', `${addonPath}/backups/${backup.body.backup.id}`);
  expect(record.body).toMatchObject({ status: 'failed', sizeBytes: null, sha256: null });
  expect((await api('GET', addonPath)).body).toMatchObject({ status: 'running', currentOperationId: null });
});
