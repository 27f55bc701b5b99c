/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against
 * `npm start`'s platform: sign in with the local token, create a PostgreSQL addon and watch
 * it become running, take a backup and restore it, create and edit a schedule, see the API's
 * field messages for bad input; and render a project of 1,000 addons, measured.
 * Screenshots land in test-artifacts/console/ (gitignored).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../../console/build.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

const TOKEN = 'console-e2e-token-0123456789';
const PROJECT = 'console-e2e';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let dataDir: string | undefined;
let platform: PlatformProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let url = '';

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian's; .ci/run installs it)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  ensureConsoleBuilt();
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-console-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  url = platform.url;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
}, 120_000);

// A failed step leaves its screen behind, to see what the user saw.
afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && page) {
    await shot(`failed-${context.task.name.replace(/\W+/g, '-').slice(0, 60)}`).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close();
  if (platform?.child.exitCode === null) await platform.interrupt();
  if (dataDir) await removePlatformData(dataDir);
});

describe('web console', () => {
  it('signs in with the local token, and refuses a wrong one', async () => {
    await page.goto(url);
    await page.getByLabel('Bearer token').fill('not-the-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Open a project by id').fill(PROJECT);
    await page.getByRole('button', { name: 'Open' }).click();
    // The API answers 401: back to the sign-in page, saying why.
    await expect.poll(() => page.getByText('Your session ended').isVisible()).toBe(true);
    await shot('sign-in');

    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Project ${PROJECT}` }).waitFor();
    await expect.poll(() => page.getByText('No addons in this project yet.').isVisible()).toBe(true);
  });

  it('shows the field messages of a bad input', async () => {
    await page.getByRole('button', { name: 'Create addon' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create an addon' });
    await dialog.getByLabel('Name').fill('Not A Valid Name!');
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/name/);
    expect(await dialog.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
    await shot('bad-input');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  it('creates a PostgreSQL addon and shows it becoming running', async () => {
    await page.getByRole('button', { name: 'Create addon' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create an addon' });
    await dialog.getByLabel('Name').fill('orders');
    await dialog.getByLabel('Engine').selectOption('postgresql');
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    // The create operation is tracked with its progress until it ends.
    const tracked = page.locator('.tracked', { hasText: 'Create orders' });
    await tracked.waitFor();
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 90_000, interval: 500 })
      .toBe('completed');
    const row = page.getByRole('listitem').filter({ hasText: 'orders' });
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('running');
    await shot('project');
    await row.getByRole('link', { name: 'orders' }).click();
    await page.getByRole('heading', { name: 'orders', level: 1 }).waitFor();
  }, 120_000);

  it('shows connection details only when asked, with copy buttons', async () => {
    expect(await page.locator('[data-field="password"]').count()).toBe(0);
    await page.getByRole('button', { name: 'Show connection details' }).click();
    const uri = await page.locator('[data-field="uri"]').textContent();
    expect(uri).toMatch(/^postgresql:\/\//);
    await page.getByRole('button', { name: 'Copy URI' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(uri);
    await shot('addon-connection');
    await page.getByRole('button', { name: 'Hide connection details' }).click();
    expect(await page.locator('[data-field="password"]').count()).toBe(0);
  });

  let backupId = '';
  it('takes a backup and offers its download', async () => {
    await page.getByRole('button', { name: 'Take backup' }).click();
    const tracked = page.locator('.tracked', { hasText: /^Backup bkp-/ });
    await tracked.waitFor();
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 60_000, interval: 500 })
      .toBe('completed');
    const row = page.locator('tr[data-backup]').first();
    backupId = (await row.getAttribute('data-backup')) ?? '';
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('completed');
    await row.getByRole('button', { name: 'Download' }).click();
    const link = row.getByRole('link', { name: 'Download file' });
    const href = (await link.getAttribute('href')) ?? '';
    const file = await page.request.get(href);
    expect(file.status()).toBe(200);
    expect((await file.body()).length).toBeGreaterThan(0);
    // Pin, then unpin: the button says which state it is in.
    await row.getByRole('button', { name: 'Pin' }).click();
    await expect
      .poll(() => row.getByRole('button', { name: 'Unpin' }).getAttribute('aria-pressed'))
      .toBe('true');
  }, 90_000);

  it('restores the backup after asking, and shows the restore until it ends', async () => {
    const row = page.locator(`tr[data-backup="${backupId}"]`);
    await row.getByRole('button', { name: 'Restore' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain('replaced');
    // Cancel has the focus: Escape (or Enter) never restores by accident.
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    expect(await page.locator('.tracked', { hasText: `Restore ${backupId}` }).count()).toBe(0);

    await row.getByRole('button', { name: 'Restore' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Restore' }).click();
    const tracked = page.locator('.tracked', { hasText: `Restore ${backupId}` });
    await tracked.waitFor();
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 90_000, interval: 500 })
      .toBe('completed');
    await shot('addon');
  }, 120_000);

  it('creates and edits a schedule, and shows the field message of a bad retention', async () => {
    await page.getByRole('button', { name: 'New schedule' }).click();
    let dialog = page.getByRole('dialog', { name: 'New backup schedule' });
    await dialog.getByLabel('Interval').selectOption('daily');
    await dialog.getByLabel('Hours (UTC)').fill('2');
    await dialog.getByLabel('Minutes').fill('30');
    await dialog.getByLabel('Retention (days)').fill('14');
    await dialog.getByRole('button', { name: 'Create schedule' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const row = page.locator('tr[data-schedule]').first();
    await expect.poll(() => row.textContent()).toContain('daily at 02:30 UTC');
    expect(await row.textContent()).toContain('14 days');

    await row.getByRole('button', { name: /^Edit schedule/ }).click();
    dialog = page.getByRole('dialog', { name: 'Edit backup schedule' });
    await dialog.getByLabel('Retention (days)').fill('500');
    await dialog.getByRole('button', { name: 'Save schedule' }).click();
    await dialog.getByRole('alert').waitFor();
    expect(await dialog.getByLabel('Retention (days)').getAttribute('aria-invalid')).toBe('true');
    await shot('schedule-error');
    await dialog.getByLabel('Retention (days)').fill('30');
    await dialog.getByLabel('Hours (UTC)').fill('2, 14');
    await dialog.getByLabel('Minutes').fill('15');
    await dialog.getByRole('button', { name: 'Save schedule' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => row.textContent()).toContain('30 days');
    expect(await row.textContent()).toContain('02:15, 14:15');
  });

  it('fits a narrow screen', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('addon-narrow');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('renders a project of 1,000 addons without freezing', async () => {
    const ADDONS = 1000;
    const now = new Date().toISOString();
    // The list is the API's, answered here: 1,000 real addons would take the machine minutes.
    await page.route('**/v1/projects/big/addons?*', async (route) => {
      const query = new URL(route.request().url()).searchParams;
      const start = Number(query.get('cursor') ?? 0);
      const items = Array.from({ length: 100 }, (_, index) => ({
        id: `adn-big-${start + index}`,
        projectId: 'big',
        name: `addon-${String(start + index).padStart(4, '0')}`,
        engine: 'postgresql',
        version: '15',
        plan: 'small',
        storageGiB: 1,
        tls: false,
        status: 'running',
        createdAt: now,
      }));
      const nextCursor = start + 100 < ADDONS ? String(start + 100) : null;
      await route.fulfill({ json: { items, nextCursor } });
    });
    // Browser-side code as strings: this file is type-checked without the DOM library.
    expect(await page.evaluate(`PerformanceObserver.supportedEntryTypes.includes('longtask')`)).toBe(true);
    await page.evaluate(`window.longTasks = [];
      new PerformanceObserver((list) => { for (const entry of list.getEntries()) window.longTasks.push(entry.duration); })
        .observe({ type: 'longtask' });`);
    const started = Date.now();
    await page.evaluate(`window.location.hash = '#/projects/big'`);
    await page
      .getByTestId('addon-count')
      .filter({ hasText: `${ADDONS} addons` })
      .waitFor();
    const rendered = Date.now() - started;
    const rows = await page.locator('li.row').count();
    // Scrolling to the end brings the last addon in, still with a small DOM.
    const scrollStarted = Date.now();
    await page.locator('.scroller').evaluate((element) => element.scrollTo(0, element.scrollHeight));
    await page.getByRole('link', { name: 'addon-0999' }).waitFor();
    const scrolled = Date.now() - scrollStarted;
    const longTasks = (await page.evaluate('window.longTasks')) as number[];
    const longest = Math.max(0, ...longTasks);
    const measured = {
      addons: ADDONS,
      renderedMs: rendered,
      rowsInDom: rows,
      scrollToEndMs: scrolled,
      longestTaskMs: longest,
    };
    console.info('1,000 addons:', JSON.stringify(measured));
    writeFileSync(join(ARTIFACTS, 'addon-list-1000.json'), `${JSON.stringify(measured, null, 2)}\n`);
    await shot('project-1000');
    expect(rows).toBeLessThan(60);
    // No task blocks the page long enough for a user to notice a freeze.
    expect(longest).toBeLessThan(200);
    expect(rendered).toBeLessThan(5000);
  });

  it('signs in through Cognito when the deployment says so (Cognito answered here), new password first', async () => {
    // As on AWS: config.json names a user pool; Cognito's JSON API is answered by the test, and
    // its ID token is the local token, which the local API accepts. The CSP of the local target
    // allows only its own origin, so this context bypasses it (on AWS, CloudFront's allows Cognito).
    const context = await (browser as Browser).newContext({ bypassCSP: true });
    const cognitoPage = await context.newPage();
    await cognitoPage.route('**/console/config.json', (route) =>
      route.fulfill({
        json: {
          apiUrl: '',
          signIn: {
            kind: 'cognito',
            region: 'eu-west-1',
            userPoolId: 'eu-west-1_Test',
            clientId: 'client-1',
          },
        },
      }),
    );
    const asked: Array<{ target: string; body: Record<string, unknown> }> = [];
    await cognitoPage.route('https://cognito-idp.eu-west-1.amazonaws.com/', async (route) => {
      const target = route.request().headers()['x-amz-target'] ?? '';
      const body = JSON.parse(route.request().postData() ?? '{}') as Record<string, unknown>;
      asked.push({ target, body });
      if (target.endsWith('.InitiateAuth')) {
        await route.fulfill({ json: { ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 'session-1' } });
      } else {
        await route.fulfill({ json: { AuthenticationResult: { IdToken: TOKEN } } });
      }
    });
    await cognitoPage.goto(url);
    await cognitoPage.getByLabel('Email').fill('ops@example.com');
    await cognitoPage.getByLabel('Password').fill('Temporary-Passw0rd!');
    await cognitoPage.getByRole('button', { name: 'Sign in' }).click();
    await cognitoPage.getByLabel('New password').fill('A-New-Long-Passw0rd!');
    await cognitoPage.getByRole('button', { name: 'Sign in' }).click();
    await cognitoPage.getByRole('heading', { name: 'Projects' }).waitFor();
    expect(asked.map((call) => call.target)).toEqual([
      'AWSCognitoIdentityProviderService.InitiateAuth',
      'AWSCognitoIdentityProviderService.RespondToAuthChallenge',
    ]);
    expect(asked[0]?.body).toMatchObject({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: 'client-1',
      AuthParameters: { USERNAME: 'ops@example.com', PASSWORD: 'Temporary-Passw0rd!' },
    });
    expect(asked[1]?.body).toMatchObject({
      ChallengeName: 'NEW_PASSWORD_REQUIRED',
      Session: 'session-1',
      ChallengeResponses: { USERNAME: 'ops@example.com', NEW_PASSWORD: 'A-New-Long-Passw0rd!' },
    });
    // The ID token works as the bearer token: the project's addons load.
    await cognitoPage.evaluate(`window.location.hash = '#/projects/${PROJECT}'`);
    await cognitoPage.getByRole('link', { name: 'orders' }).waitFor();
    await context.close();
  });

  it('deletes the addon after asking, with a final backup, and shows the delete until it ends', async () => {
    await page.evaluate(`window.location.hash = '#/projects/${PROJECT}'`);
    await page.getByRole('link', { name: 'orders' }).click();
    await page.getByRole('button', { name: 'Delete addon' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByLabel('Final backup first').selectOption('dump');
    await confirm.getByRole('button', { name: 'Delete addon' }).click();
    const tracked = page.locator('.tracked', { hasText: 'Delete orders' });
    await tracked.waitFor();
    await page.getByRole('heading', { name: `Project ${PROJECT}` }).waitFor();
    await expect
      .poll(() => tracked.getAttribute('data-status'), { timeout: 90_000, interval: 500 })
      .toBe('completed');
    await expect
      .poll(() => page.getByText('No addons in this project yet.').isVisible(), { timeout: 10_000 })
      .toBe(true);
  }, 120_000);
});
