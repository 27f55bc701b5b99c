/**
 * The web console's networking, credential rotation, secret groups and events pages in a real
 * browser (Debian's Chromium through playwright-core) against `npm start`'s platform, with one
 * PostgreSQL addon: TLS and a public allow list turned on and off with each operation seen to its
 * end, the CA certificate downloaded; a rotation opened (its deadline shown) and finished; an
 * external service registered (its string never shown) and a secret group linking the addon whose
 * document shows the addon's URI only when asked; the events feed newest first, paged, filtered
 * and updated live; an alert rule created through its form (the signing secret shown once),
 * listed, edited, its secret rotated, and deleted; the addon, linked into a group, deleted only once asked to unlink it.
 * axe-core checks each new page. Screenshots land in test-artifacts/console/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../../console/build.ts';
import { seriousAxeViolations } from '../support/axe.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { type Api, operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

const TOKEN = 'console-pages-e2e-token-0123456789';
const PROJECT = 'console-pages';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SERVICE_PASSWORD = 'never-shown-8c1f';
/** How long a page may take to show what the API already answered (the machine may be busy). */
const WAIT = { timeout: 15_000, interval: 200 };

let dataDir: string | undefined;
let platform: PlatformProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let api: Api;
let addonId = '';

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;
const tracked = (label: string) => page.locator('.tracked', { hasText: label });
const endsCompleted = (label: string) =>
  expect.poll(() => tracked(label).getAttribute('data-status'), { timeout: 30_000 }).toBe('completed');

/** Everything in the feed, newest first, as the API answers it. */
const feedIds = async () => {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `order=newest&limit=100${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api('GET', `/v1/projects/${PROJECT}/events?${query}`);
    ids.push(...page.body.items.map((event: { id: string }) => event.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids;
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian's; .ci/run installs it)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  ensureConsoleBuilt();
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-console-pages-'));
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: dataDir,
    ADDONS_TOKEN: TOKEN,
    ADDONS_PUBLIC_HOST: '127.0.0.1',
  });
  api = client(platform.url, TOKEN);
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
    body: { name: 'app', engine: 'postgresql' },
  });
  expect(created.status).toBe(202);
  addonId = created.body.addon.id;
  expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: platform.url });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(platform.url);
  await page.getByLabel('Bearer token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Open a project by id').waitFor();
}, 120_000);

afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && page) {
    await shot(`pages-failed-${context.task.name.replace(/\W+/g, '-').slice(0, 60)}`).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close();
  if (platform?.child.exitCode === null) await platform.interrupt();
  if (dataDir) await removePlatformData(dataDir);
});

describe('web console: networking, rotation, secret groups and events', () => {
  it('turns TLS and a public allow list on and off, each change asked first and seen to its end', async () => {
    await page.goto(`${platform?.url}/#/projects/${PROJECT}/addons/${addonId}`);
    const section = page.getByRole('region', { name: 'Networking' });
    await section.getByRole('checkbox', { name: 'Require TLS' }).waitFor();
    expect(await section.locator('[data-field="tls"]').textContent()).toBe('off');
    expect(await section.locator('[data-field="access"]').textContent()).toBe('private');

    await section.getByRole('checkbox', { name: 'Require TLS' }).check();
    await section.getByRole('button', { name: 'Apply networking changes' }).click();
    const confirm = page.getByRole('alertdialog');
    expect(await confirm.textContent()).toContain('open connections are dropped');
    // Focus starts on Cancel: Enter never applies by accident.
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Cancel');
    await confirm.getByRole('button', { name: 'Apply' }).click();
    await endsCompleted('Networking of app: TLS required');
    await expect.poll(() => section.locator('[data-field="tls"]').textContent(), WAIT).toBe('required');

    // A CIDR with host bits set: the API's message under the list, nothing applied.
    const allow = section.getByLabel('Allowed addresses (CIDR)');
    await section.getByRole('checkbox', { name: 'Public' }).check();
    await allow.fill('203.0.113.7/24');
    await section.getByRole('button', { name: 'Apply networking changes' }).click();
    await confirm.getByRole('button', { name: 'Apply' }).click();
    await confirm.getByRole('alert').waitFor();
    await page.keyboard.press('Escape');
    expect(await allow.getAttribute('aria-invalid')).toBe('true');
    expect(await section.locator('#networking-allow-error').textContent()).toContain('host bits');

    await allow.fill('127.0.0.2/32');
    await section.getByRole('button', { name: 'Apply networking changes' }).click();
    await confirm.getByRole('button', { name: 'Apply' }).click();
    await endsCompleted('Networking of app: public; allowed: 127.0.0.2/32');
    await expect
      .poll(() => section.locator('[data-field="access"]').textContent(), WAIT)
      .toBe('public, from the allowed addresses only');
    expect(await section.locator('[data-field="allowed"]').textContent()).toBe('127.0.0.2/32');

    const credentials = (await api('GET', `${base()}/credentials`)).body;
    await section.getByRole('button', { name: 'Show public connection details' }).click();
    expect(await section.locator('[data-field="public-uri"]').textContent()).toBe(credentials.public.uri);
    const download = page.waitForEvent('download');
    await section.getByRole('button', { name: 'Download CA certificate' }).click();
    const pem = readFileSync((await (await download).path()) as string, 'utf8');
    expect(pem).toBe(credentials.caCertificate);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    await shot('pages-networking');
    expect(await seriousAxeViolations(page)).toEqual([]);

    await section.getByRole('checkbox', { name: 'Public' }).uncheck();
    await section.getByRole('button', { name: 'Apply networking changes' }).click();
    await confirm.getByRole('button', { name: 'Apply' }).click();
    await endsCompleted('Networking of app: private');
    const addon = (await api('GET', base())).body;
    expect(addon).toMatchObject({ tls: true, publicAccess: false, allowedCidrs: ['127.0.0.2/32'] });
  }, 120_000);

  it('rotates the credentials, shows the deadline, and finishes the rotation after asking', async () => {
    const section = page.getByRole('region', { name: 'Connection details' });
    await section.getByRole('button', { name: 'Rotate credentials' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the credentials of app' });
    await dialog.getByLabel('The previous credentials keep working for').selectOption('3600');
    await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();
    await endsCompleted('Rotate the credentials of app');
    const rotation = (await api('GET', base())).body.credentialRotation;
    expect(Date.parse(rotation.deadline) - Date.parse(rotation.rotatedAt)).toBe(3600_000);
    const open = section.getByTestId('rotation-open');
    expect(await open.locator('time').getAttribute('datetime')).toBe(rotation.deadline);
    expect(await open.textContent()).toContain(rotation.previousUsername);

    await section.getByRole('button', { name: 'Finish rotation' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Retire previous credentials' }).click();
    await endsCompleted('Finish the rotation of app');
    await section.getByRole('button', { name: 'Rotate credentials' }).waitFor();
    expect((await api('GET', base())).body.credentialRotation ?? null).toBeNull();
  }, 60_000);

  it('registers an external service and a secret group linking the addon, whose document shows values only when asked', async () => {
    await page.reload(); // the operations tracked so far go (screenshots without them)
    await page.getByRole('link', { name: PROJECT }).click();
    await page
      .getByRole('navigation', { name: 'Project' })
      .getByRole('link', { name: 'Secret groups' })
      .click();
    await page.getByRole('heading', { name: 'Secret groups', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Register external service' }).click();
    let dialog = page.getByRole('dialog', { name: 'Register an external service' });
    await dialog.getByLabel('Name').fill('reporting');
    expect(await dialog.getByLabel('Connection string').getAttribute('type')).toBe('password');
    await dialog
      .getByLabel('Connection string')
      .fill(`postgresql://report:${SERVICE_PASSWORD}@db.example.com:5432/reports?sslmode=require`);
    await dialog.getByRole('button', { name: 'Register' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const service = page.locator('tr[data-service="reporting"]');
    expect(await service.textContent()).toContain('db.example.com:5432/reports (TLS)');

    await page.getByRole('button', { name: 'New secret group' }).click();
    dialog = page.getByRole('dialog', { name: 'New secret group' });
    await dialog.getByLabel('Name', { exact: true }).fill('web');
    await dialog.getByRole('button', { name: 'Add link' }).click();
    await dialog.getByLabel('Published as key 1 of link 1').fill('DATABASE_URL');
    await dialog.getByRole('button', { name: 'Add key to link 1' }).click();
    await dialog.getByLabel('Key 2 of link 1', { exact: true }).selectOption('host');
    await dialog.getByLabel('Published as key 2 of link 1').fill('DATABASE_URL');
    await dialog.getByRole('button', { name: 'Add link' }).click();
    await dialog.getByLabel('Source of link 2').selectOption({ label: 'reporting (postgresql, external)' });
    await dialog.getByLabel('Published as key 1 of link 2').fill('REPORTING_URL');
    await dialog.getByRole('button', { name: 'Add variable' }).click();
    await dialog.getByLabel('Name of variable 1').fill('NODE_ENV');
    await dialog.getByLabel('Value of variable 1').fill('production');
    expect(await seriousAxeViolations(page)).toEqual([]);
    // An alias used twice: the API names the second, and the form shows it under that input.
    await dialog.getByRole('button', { name: 'Create group' }).click();
    const alias = dialog.getByLabel('Published as key 2 of link 1');
    await expect.poll(() => alias.getAttribute('aria-invalid'), WAIT).toBe('true');
    await alias.fill('DB_HOST');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const row = page.locator('tr[data-group="web"]');
    expect(await row.textContent()).toContain('DATABASE_URL, DB_HOST ← app');
    await shot('pages-secret-groups');
    const credentials = (await api('GET', `${base()}/credentials`)).body;
    await row.getByRole('button', { name: 'View the document of web' }).click();
    dialog = page.getByRole('dialog', { name: 'Document of web' });
    await dialog.getByTestId('document').waitFor();
    expect(await dialog.textContent()).not.toContain(credentials.password);
    await dialog.getByRole('button', { name: 'Show values' }).click();
    expect(await dialog.locator('[data-value="DATABASE_URL"]').textContent()).toBe(credentials.uri);
    expect(await dialog.locator('[data-value="DB_HOST"]').textContent()).toBe(credentials.host);
    expect(await dialog.locator('[data-value="NODE_ENV"]').textContent()).toBe('production');
    expect(await dialog.locator('[data-value="REPORTING_URL"]').textContent()).toContain(SERVICE_PASSWORD);
    await dialog.getByRole('button', { name: 'Copy DATABASE_URL' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(credentials.uri);
    await shot('pages-secret-group-document');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // The service's string is nowhere in the page once the document is closed.
    expect(await page.content()).not.toContain(SERVICE_PASSWORD);

    // Deleting the linked service is refused until asked to unlink it; then the group goes too.
    await service.getByRole('button', { name: 'Delete reporting' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByRole('button', { name: 'Delete service' }).click();
    expect(await confirm.getByRole('alert').textContent()).toContain('web');
    await confirm.getByRole('checkbox', { name: /Also remove it from the secret groups/ }).check();
    await confirm.getByRole('button', { name: 'Delete service' }).click();
    await service.waitFor({ state: 'detached' });
    await expect.poll(() => row.textContent(), WAIT).not.toContain('reporting');
    expect(await seriousAxeViolations(page)).toEqual([]);

    await row.getByRole('button', { name: 'Delete web' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete group' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await api('GET', `/v1/projects/${PROJECT}/secret-groups`)).body.items).toEqual([]);
  }, 60_000);

  it('shows the events newest first, pages on with "Load more", filters them and adds new ones live', async () => {
    // Three more rotations: enough events for a second page (20 a page).
    for (let i = 0; i < 3; i++) {
      expect((await api('POST', `${base()}/credentials/rotate`, { body: {} })).status).toBe(200);
      expect((await api('POST', `${base()}/credentials/rotate/finish`)).status).toBe(200);
    }
    const ids = await feedIds();
    expect(ids.length).toBeGreaterThan(20);
    await page.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    const rows = page.locator('tr[data-event]');
    const shown = () => rows.evaluateAll((list) => list.map((row) => row.getAttribute('data-event')));
    await expect.poll(shown, WAIT).toEqual(ids.slice(0, 20));
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(shown, WAIT).toEqual(ids);

    // Live: an operation started elsewhere appears at the top without a reload.
    const rotated = await api('POST', `${base()}/credentials/rotate`, { body: {} });
    expect(rotated.status).toBe(200);
    await expect
      .poll(() => rows.first().getAttribute('data-event'), { timeout: 15_000 })
      .toBe(`${rotated.body.operation.id}.completed`);
    expect(await page.getByTestId('events-status').textContent()).toContain('new event');
    await shot('pages-events');
    expect(await seriousAxeViolations(page)).toEqual([]);

    await page.getByLabel('Type').selectOption('operation.completed');
    await expect
      .poll(async () => new Set(await rows.locator('td[data-label="Event"]').allTextContents()), WAIT)
      .toEqual(new Set(['operation.completed']));
    // The addon page links to its own events: the filter is in the address.
    await page.goto(`${platform?.url}/#/projects/${PROJECT}/addons/${addonId}`);
    // Followed from the keyboard: the addon page is long and its sections (metrics, backups) load
    // and grow around the link, so a click at the link's coordinates can land on what moved there.
    const eventsLink = page.getByRole('link', { name: 'Events of app' });
    await eventsLink.focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => new URL(page.url()).hash, WAIT)
      .toBe(`#/projects/${PROJECT}/events?addon=${addonId}`);
    expect(await page.getByLabel('Addon').inputValue()).toBe(addonId);
    await expect.poll(() => rows.count(), WAIT).toBeGreaterThan(0);

    // A phone's width: rows become cards, nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 800 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('pages-events-narrow');
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  it('creates an alert rule through the form (its signing secret shown once), edits it, rotates its secret, and deletes it after asking', async () => {
    await page.goto(`${platform?.url}/#/projects/${PROJECT}`);
    await page.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    await page.locator('tr[data-rule="CPU above 90 % for 10 minutes"]').waitFor(); // a default rule

    await page.getByRole('button', { name: 'New alert rule' }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert rule' });
    await dialog.getByLabel('Name').fill('app cpu');
    await dialog.getByLabel('Metric').selectOption('cpu');
    await dialog.getByLabel('Comparison').selectOption('>=');
    await dialog.getByLabel('Threshold').fill('95');
    await dialog.getByLabel('For (seconds)').fill('120');
    await dialog.getByRole('radio', { name: 'Only these addons' }).check();
    await dialog.getByRole('checkbox', { name: 'app (postgresql)' }).check();
    // A webhook the API refuses: its message under the URLs, naming the line; nothing created.
    const webhooks = dialog.getByLabel(/Webhook URLs/);
    await webhooks.fill('ftp://hooks.example.com/addons');
    await dialog.getByRole('button', { name: 'Create rule' }).click();
    await expect.poll(() => webhooks.getAttribute('aria-invalid'), WAIT).toBe('true');
    expect(await dialog.locator('#rule-webhooks-error').textContent()).toBe('line 1: must be https');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await webhooks.fill('http://127.0.0.1:9/hooks');
    await dialog.getByRole('button', { name: 'Create rule' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const row = page.locator('tr[data-rule="app cpu"]');
    const listed = await row.textContent();
    for (const text of ['cpu >= 95 % for 2 min', 'app', 'webhook http://127.0.0.1:9/hooks', 'enabled'])
      expect(listed).toContain(text);
    const rules = (await api('GET', `/v1/projects/${PROJECT}/alert-rules`)).body.items;
    const rule = rules.find((item: { name: string }) => item.name === 'app cpu');
    expect(rule).toMatchObject({ metric: 'cpu', comparison: '>=', threshold: 95, addons: [addonId] });
    expect(rule.signingSecret).toBeUndefined();
    // The secret, shown once: copied from the notice, gone once dismissed.
    const notice = page.getByTestId('signing-secret');
    const secret = (await notice.locator('[data-value="signing-secret"]').textContent()) ?? '';
    // Focus moves from the closed dialog to the secret, not back to its trigger.
    await expect.poll(() => page.evaluate('document.activeElement?.id'), WAIT).toBe('secret-title');
    expect(secret.length).toBeGreaterThan(20);
    await notice.getByRole('button', { name: 'Copy signing secret' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    await shot('pages-alerts');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await notice.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(secret);

    // Edit (PATCH through the same form): a new threshold, and disabled.
    await row.getByRole('button', { name: 'Edit app cpu' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit app cpu' });
    await edit.getByLabel('Threshold').fill('97');
    await edit.getByRole('checkbox', { name: 'Enabled' }).uncheck();
    await edit.getByRole('button', { name: 'Save rule' }).click();
    await edit.waitFor({ state: 'hidden' });
    await expect.poll(() => row.textContent(), WAIT).toContain('cpu >= 97 %');
    expect(await row.textContent()).toContain('disabled');
    const edited = (await api('GET', `/v1/projects/${PROJECT}/alert-rules/${rule.id}`)).body;
    expect(edited).toMatchObject({ threshold: 97, enabled: false, addons: [addonId] });
    expect(edited.channels.webhooks).toEqual([{ url: 'http://127.0.0.1:9/hooks' }]);
    // Rotate, asked first: the new secret, shown once.
    await row.getByRole('button', { name: 'Rotate secret of app cpu' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = notice.locator('[data-value="signing-secret"]');
    await expect.poll(() => rotated.textContent(), WAIT).toMatch(/^whsec_/);
    expect(await rotated.textContent()).not.toBe(secret);
    expect(await notice.textContent()).toContain('New signing secret of app cpu');
    await expect.poll(() => page.evaluate('document.activeElement?.id'), WAIT).toBe('secret-title');
    await notice.getByRole('button', { name: 'Done' }).click();
    await row.getByRole('button', { name: 'Deliveries of app cpu' }).click();
    const deliveries = page.getByRole('dialog', { name: 'Deliveries of app cpu' });
    await deliveries.getByText('No deliveries yet.').waitFor();
    await page.keyboard.press('Escape');
    await deliveries.waitFor({ state: 'hidden' });
    // A phone's width: rows become cards, nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 800 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('pages-alerts-narrow');
    await page.setViewportSize({ width: 1280, height: 900 });

    await row.getByRole('button', { name: 'Delete app cpu' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete rule' }).click();
    await row.waitFor({ state: 'detached' });
    const after = (await api('GET', `/v1/projects/${PROJECT}/alert-rules`)).body.items;
    expect(after.map((item: { id: string }) => item.id)).not.toContain(rule.id);
  }, 60_000);

  it('deletes an addon linked into a secret group only when asked to unlink it', async () => {
    const group = await api('POST', `/v1/projects/${PROJECT}/secret-groups`, {
      body: { name: 'worker', links: [{ addonId, keys: [{ key: 'uri', alias: 'DATABASE_URL' }] }] },
    });
    expect(group.status).toBe(201);
    await page.goto(`${platform?.url}/#/projects/${PROJECT}/addons/${addonId}`);
    await page.getByRole('button', { name: 'Delete addon' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByRole('button', { name: 'Delete addon' }).click();
    expect(await confirm.getByRole('alert').textContent()).toContain('worker');
    await confirm.getByRole('checkbox', { name: /Also remove it from the secret groups/ }).check();
    await confirm.getByRole('button', { name: 'Delete addon' }).click();
    await page.getByRole('heading', { name: `Project ${PROJECT}` }).waitFor();
    await tracked('Delete app').waitFor();
    const after = await api('GET', `/v1/projects/${PROJECT}/secret-groups/${group.body.id}`);
    expect(after.body.links).toEqual([]);
  }, 60_000);
});
