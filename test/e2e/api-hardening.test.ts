import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Hostile input over HTTP against `npm start`'s entry point: path traversal in the project id,
 * malformed escapes, forged and misplaced cursors, and an Idempotency-Key reused across addons.
 * Each test prepares what it needs; the two running addons are shared, created once.
 */
const TOKEN = 'e2e-hardening-token-0123456789';
let root: string;
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

const waitForOperation = (projectId: string, operationId: string) =>
  operationEnded(api, projectId, operationId, 60_000);

/** Creating two PostgreSQL addons takes seconds, more on a loaded machine. */
const SLOW = 120_000;

/** Two running addons in project `e2e-a`: created once, used by the cursor and idempotency tests. */
let addonsReady: Promise<[string, string]> | undefined;
const twoAddons = () => {
  addonsReady ??= (async () => {
    const ids: string[] = [];
    for (const name of ['first', 'second']) {
      const created = await api('POST', '/v1/projects/e2e-a/addons', {
        body: { name, engine: 'postgresql' },
      });
      expect(created.status).toBe(202);
      const operation = await waitForOperation('e2e-a', created.body.operation.id);
      expect(operation, JSON.stringify(operation.error)).toMatchObject({ status: 'completed' });
      ids.push(created.body.addon.id);
    }
    return ids as [string, string];
  })();
  return addonsReady;
};

const expectCursorRefused = (response: {
  status: number;
  headers: Headers;
  body: { errors: Array<{ path: string }> };
}) => {
  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.body.errors.map((issue) => issue.path)).toEqual(['cursor']);
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'addons-e2e-hardening-'));
  // As root, engines run as `postgres`, which must be able to traverse to the data directory.
  await chmod(root, 0o711);
  dataDir = join(root, 'data');
  await mkdir(dataDir);
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
});

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe('project ids over HTTP', () => {
  it('refuses ..%2F in the project id with a 400, and nothing is written outside the data directory', async () => {
    const listed = await api('GET', '/v1/projects/..%2F..%2Fetc/addons');
    expect(listed.status).toBe(400);
    expect(listed.headers.get('content-type')).toBe('application/problem+json');
    expect(listed.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['projectId']);

    // The create that used to write its secret to <data>/secrets/../../escaped/<addon>.json.
    const created = await api('POST', '/v1/projects/..%2F..%2Fescaped/addons', {
      body: { name: 'traversal', engine: 'postgresql' },
    });
    expect(created.status).toBe(400);
    expect(await readdir(root)).toEqual(['data']);
  });

  it('answers a malformed percent-escape with a 400 problem, not a 500', async () => {
    const response = await api('GET', '/v1/projects/%E0%A4%A/addons');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors[0].path).toBe('path');
  });
});

describe('pagination cursors over HTTP', () => {
  it('pages through a listing with the cursor it handed out', { timeout: SLOW }, async () => {
    await twoAddons();
    const first = await api('GET', '/v1/projects/e2e-a/addons?limit=1');
    const second = await api('GET', `/v1/projects/e2e-a/addons?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.status).toBe(200);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
  });

  it('refuses a cursor tampered by one byte with a 400 naming cursor', { timeout: SLOW }, async () => {
    await twoAddons();
    const { nextCursor } = (await api('GET', '/v1/projects/e2e-a/addons?limit=1')).body as {
      nextCursor: string;
    };
    const middle = Math.floor(nextCursor.length / 3);
    const tampered = `${nextCursor.slice(0, middle)}${nextCursor[middle] === 'A' ? 'B' : 'A'}${nextCursor.slice(middle + 1)}`;
    expectCursorRefused(await api('GET', `/v1/projects/e2e-a/addons?limit=1&cursor=${tampered}`));
  });

  it("refuses project A's cursor in project B with a 400 naming cursor", { timeout: SLOW }, async () => {
    await twoAddons();
    const { nextCursor } = (await api('GET', '/v1/projects/e2e-a/addons?limit=1')).body;
    expectCursorRefused(await api('GET', `/v1/projects/e2e-b/addons?limit=1&cursor=${nextCursor}`));
  });

  it("refuses the backups listing's cursor on the addons listing with a 400 naming cursor", {
    timeout: SLOW,
  }, async () => {
    const [addonId] = await twoAddons();
    const backup = await api('POST', `/v1/projects/e2e-a/addons/${addonId}/backups`, {
      body: { type: 'snapshot' },
    });
    expect(backup.status).toBe(202);
    await waitForOperation('e2e-a', backup.body.operation.id);
    const backups = await api('GET', `/v1/projects/e2e-a/addons/${addonId}/backups?limit=1`);
    expect(backups.body.nextCursor).toEqual(expect.any(String));
    expectCursorRefused(
      await api('GET', `/v1/projects/e2e-a/addons?limit=1&cursor=${backups.body.nextCursor}`),
    );
  });
});

describe('Idempotency-Key over HTTP', () => {
  it('creates two backups for the same key on two different addons, and replays on the same one', {
    timeout: SLOW,
  }, async () => {
    const [first, second] = await twoAddons();
    const post = (addonId: string) =>
      api('POST', `/v1/projects/e2e-a/addons/${addonId}/backups`, {
        body: { type: 'snapshot' },
        headers: { 'idempotency-key': 'nightly-2026-11-30' },
      });

    const onFirst = await post(first);
    expect(onFirst.status).toBe(202);
    await waitForOperation('e2e-a', onFirst.body.operation.id);
    const onSecond = await post(second);
    expect(onSecond.status).toBe(202);
    await waitForOperation('e2e-a', onSecond.body.operation.id);
    const replayed = await post(first);

    expect(onSecond.body.backup.id).not.toBe(onFirst.body.backup.id);
    expect(onSecond.body.backup.addonId).toBe(second);
    expect(replayed.body.backup.id).toBe(onFirst.body.backup.id);
    const listed = await api('GET', `/v1/projects/e2e-a/addons/${second}/backups`);
    expect(listed.body.items.map((backup: { id: string }) => backup.id)).toContain(onSecond.body.backup.id);
  });
});
