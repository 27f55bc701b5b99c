/**
 * The web console's data actions in a real browser (Debian's Chromium through playwright-core)
 * against `npm start`'s platform: the actions follow the catalog's capabilities; a fork from a
 * chosen backup becomes running and the console goes to it; the point-in-time restore form shows
 * the API's message for a time outside the window; a pg_dump file (a dump backup's download) is
 * uploaded and imported; a dump backup is exported to a bucket of the S3 emulator.
 * Screenshots land in test-artifacts/console/ (gitignored).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { s3EndpointConfig } from '#shared/jobs/s3-client.ts';
import { ensureConsoleBuilt } from '../../console/build.ts';
import { seriousAxeViolations } from '../support/axe.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { type Api, backUpAndWait, operationEnded } from '../support/operations.ts';
import { firstWindow, PITR_TEST_ENV } from '../support/pitr.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

const TOKEN = 'console-data-e2e-token-0123456789';
const PROJECT = 'console-data';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let dataDir: string | undefined;
let platform: PlatformProcess | undefined;
let browser: Browser | undefined;
let s3: S3Client | undefined;
let page: Page;
let api: Api;
let sourceId = '';
let backupId = '';
let dumpFile = '';

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const addonUrl = (id: string) => `${platform?.url}/#/projects/${PROJECT}/addons/${id}`;

/** The source addon over the API (what the console is not under test for): running, with a dump backup. */
const prepareSource = async () => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
    body: { name: 'source', engine: 'postgresql' },
  });
  expect(created.status).toBe(202);
  sourceId = created.body.addon.id;
  expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
  const base = `/v1/projects/${PROJECT}/addons/${sourceId}`;
  const backup = await backUpAndWait(api, PROJECT, base, { type: 'dump' });
  expect(backup.operation.status).toBe('completed');
  backupId = backup.backupId;
  // The backup's download is a pg_dump archive: the file the upload import takes.
  const link = await api('POST', `${base}/backups/${backupId}/download`);
  expect(link.status).toBe(200);
  const file = await fetch(link.body.url);
  dumpFile = join(dataDir ?? tmpdir(), 'source.dump.zst');
  writeFileSync(dumpFile, Buffer.from(await file.arrayBuffer()));
  // The emulator that serves download links is the one "the user's" bucket lives in.
  s3 = new S3Client(s3EndpointConfig(new URL(link.body.url).origin));
  await s3.send(new CreateBucketCommand({ Bucket: 'my-exports' }));
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian's; .ci/run installs it)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  ensureConsoleBuilt();
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-console-data-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN, ...PITR_TEST_ENV });
  api = client(platform.url, TOKEN);
  await prepareSource();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(platform.url);
  await page.getByLabel('Bearer token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Open a project by id').waitFor();
}, 240_000);

afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && page) {
    await shot(`data-failed-${context.task.name.replace(/\W+/g, '-').slice(0, 60)}`).catch(() => undefined);
  }
});

afterAll(async () => {
  s3?.destroy();
  await browser?.close();
  if (platform?.child.exitCode === null) await platform.interrupt();
  if (dataDir) await removePlatformData(dataDir);
});

describe('web console: data in and out', () => {
  it("offers the data actions the catalog's capabilities allow for the engine", async () => {
    const types = await api('GET', '/v1/addon-types');
    const postgresql = types.body.items.find((type: { engine: string }) => type.engine === 'postgresql');
    await page.goto(addonUrl(sourceId));
    await page.getByRole('heading', { name: 'source', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Data' }).waitFor();
    const visible = (name: string) => page.getByRole('button', { name, exact: true }).isVisible();
    expect(await visible('Fork')).toBe(postgresql.capabilities.fork);
    expect(await visible('Restore to a point in time')).toBe(postgresql.capabilities.pitr);
    expect(await page.getByLabel('Dump file').isVisible()).toBe(postgresql.capabilities.importDump);
    // The live import's connection string is a password input: never shown on screen.
    expect(await page.getByLabel('Connection string of the source database').getAttribute('type')).toBe(
      'password',
    );

    // Redis: no fork, no point-in-time restore, no live import (the catalog says so, with notes).
    const redisType = types.body.items.find((type: { engine: string }) => type.engine === 'redis');
    expect(redisType.capabilities).toMatchObject({ fork: false, pitr: false, importLive: false });
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'cache', engine: 'redis' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    await page.goto(addonUrl(created.body.addon.id));
    await page.getByRole('heading', { name: 'cache', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Backups' }).waitFor();
    await expect.poll(() => page.getByLabel('Dump file').isVisible()).toBe(redisType.capabilities.importDump);
    expect(await page.getByRole('button', { name: 'Fork', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Restore to a point in time' }).count()).toBe(0);
    expect(await page.getByLabel('Connection string of the source database').count()).toBe(0);
    await page.goto(addonUrl(sourceId));
    await page.getByRole('heading', { name: 'source', level: 1 }).waitFor();
  }, 60_000);

  it('refuses a point in time outside the window with the API’s message, then restores to one inside', async () => {
    // WAL archived every 2 s (PITR_TEST_ENV): the window opens within seconds.
    const base = `/v1/projects/${PROJECT}/addons/${sourceId}`;
    const credentials = await api('GET', `${base}/credentials`);
    const window = await firstWindow(api, base, credentials.body.uri, 90_000);
    await page.reload();
    await page.getByRole('heading', { name: 'source', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Restore to a point in time' }).click();
    const confirm = page.getByRole('alertdialog');
    // The dialog shows the window the time must lie in.
    await confirm.getByText(`Restorable window (UTC): ${window.earliestRestorableTime}`).waitFor();
    expect(await confirm.textContent()).toContain('replaced');
    const input = confirm.getByLabel('Point in time (your time zone)');
    await input.fill('2000-01-01T00:00:00');
    await confirm.getByRole('button', { name: 'Restore' }).click();
    const alert = confirm.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain("is outside the addon's restorable window");
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect((await api('GET', base)).body.status).toBe('running');
    await shot('data-pitr-refused');

    // The window's first second (UTC here: the browser runs in UTC).
    const inside = window.earliestRestorableTime;
    await input.fill(inside.replace('Z', ''));
    await confirm.getByRole('button', { name: 'Restore' }).click();
    await confirm.waitFor({ state: 'hidden' });
    const tracked = page.locator('.tracked', { hasText: `Restore source to ${inside}` });
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 150_000, interval: 500 })
      .toBe('completed');
    await pollUntil(
      () => api('GET', base),
      (response) => response.body.status === 'running',
      { what: 'the source to be running after the restore', timeoutMs: 30_000 },
    );
  }, 300_000);

  it('exports the dump backup to a bucket and shows the export until it ends', async () => {
    const row = page.locator(`tr[data-backup="${backupId}"]`);
    await row.getByRole('button', { name: 'Export' }).click();
    const dialog = page.getByRole('dialog', { name: `Export ${backupId} to a bucket` });
    await dialog.getByLabel('Bucket').fill('my-exports');
    await dialog.getByLabel('Prefix (optional)').fill('console');
    await dialog.getByRole('button', { name: 'Export', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    const tracked = page.locator('.tracked', { hasText: `Export ${backupId} to my-exports` });
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 90_000, interval: 500 })
      .toBe('completed');
    const listed = await (s3 as S3Client).send(
      new ListObjectsV2Command({ Bucket: 'my-exports', Prefix: `${PROJECT}/console/` }),
    );
    expect(listed.Contents?.length).toBe(1);
  }, 120_000);

  it('uploads a pg_dump file after asking, and imports it to completion', async () => {
    await page.getByLabel('Dump file').setInputFiles(dumpFile);
    await page.getByRole('button', { name: 'Import file' }).click();
    const confirm = page.getByRole('alertdialog');
    expect(await confirm.textContent()).toContain('replaced');
    await confirm.getByRole('button', { name: 'Upload and import' }).click();
    const tracked = page.locator('.tracked', { hasText: 'Import source.dump.zst' });
    await tracked.waitFor({ timeout: 60_000 });
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 120_000, interval: 500 })
      .toBe('completed');
    const row = page.locator('tr[data-import]').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('completed');
    expect(await row.textContent()).toContain('pg-custom');
    await shot('data-import');
  }, 180_000);

  it('forks from a chosen backup, goes to the fork and shows it becoming running', async () => {
    await page.getByRole('button', { name: 'Fork', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Fork source' });
    await dialog.getByLabel('Name of the new addon').fill('source-fork');
    await dialog.getByLabel('From').selectOption('backup');
    await dialog.getByLabel('Backup', { exact: true }).selectOption(backupId);
    await dialog.getByRole('button', { name: 'Fork', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('heading', { name: 'source-fork', level: 1 }).waitFor();
    const tracked = page.locator('.tracked', { hasText: 'Create source-fork' });
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 150_000, interval: 500 })
      .toBe('completed');
    const forkId = /addons\/([^/]+)$/.exec(page.url())?.[1] ?? '';
    const fork = await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/addons/${forkId}`),
      (response) => response.body.status === 'running',
      { what: 'the fork to be running', timeoutMs: 20_000 },
    );
    expect(fork.body.source).toMatchObject({ addonId: sourceId, backupId });
    await expect
      .poll(() => page.locator('.heading').first().textContent(), { timeout: 10_000 })
      .toContain('running');
    await shot('data-fork');
  }, 180_000);

  it('imports a live database into the fork, never showing its connection string again', async () => {
    // The source addon is the live database: its credentials' URI is the connection string.
    const credentials = await api('GET', `/v1/projects/${PROJECT}/addons/${sourceId}/credentials`);
    const uri: string = credentials.body.uri;
    const input = page.getByLabel('Connection string of the source database');
    await input.fill(uri);
    await page.getByRole('button', { name: 'Live import' }).click();
    const confirm = page.getByRole('alertdialog');
    expect(await confirm.textContent()).toContain('replaced');
    await confirm.getByRole('button', { name: 'Import', exact: true }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect(await input.inputValue()).toBe('');
    const tracked = page.locator('.tracked', { hasText: 'Live import into source-fork' });
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 120_000, interval: 500 })
      .toBe('completed');
    const row = page.locator('tr[data-import]').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('completed');
    expect(await row.textContent()).toContain('live');
    expect(await page.content()).not.toContain(credentials.body.password);
  }, 150_000);

  it('has no serious or critical accessibility violations (axe-core) on the sign-in, project and addon pages', async () => {
    const context = page.context();
    // A new tab has no session token: the sign-in page.
    const signIn = await context.newPage();
    await signIn.goto(platform?.url ?? '');
    await signIn.getByLabel('Bearer token').waitFor();
    expect(await seriousAxeViolations(signIn)).toEqual([]);
    await signIn.close();

    await page.goto(`${platform?.url}/#/projects/${PROJECT}`);
    await page.getByRole('heading', { name: `Project ${PROJECT}` }).waitFor();
    await page.getByRole('link', { name: 'source-fork' }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);

    await page.goto(addonUrl(sourceId));
    await page.locator(`tr[data-backup="${backupId}"]`).waitFor();
    await page.locator('tr[data-import]').first().waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    // With a dialog open too (focus trap, labels of the new forms).
    await page.getByRole('button', { name: 'Fork', exact: true }).click();
    await page.getByRole('dialog', { name: 'Fork source' }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.keyboard.press('Escape');
  });
});
