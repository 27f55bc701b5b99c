import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * The events feed and backup health over HTTP, on a machine without the PostgreSQL client tools:
 * snapshots succeed (no pg_dump needed) and scheduled dumps fail, as missing-tools.test.ts shows.
 * The schedule clock runs an hour per second, so an hourly schedule fires every second.
 */
const TOKEN = 'e2e-events-token-0123456789';
const PROJECT = 'ev';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let addonId: string;
const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;

interface FeedEvent {
  id: string;
  type: string;
  addonId: string;
  occurredAt: string;
  operation: { id: string; type: string; status: string; error: { message: string } | null } | null;
  backupHealth: { state: string; problems: Array<{ code: string }> } | null;
}

/** Every event of the addon, following the cursor to the end of the feed. */
const feed = async (query = ''): Promise<FeedEvent[]> => {
  const events: FeedEvent[] = [];
  let cursor: string | null = null;
  do {
    const after: string = cursor ? `&cursor=${cursor}` : '';
    const page = await api(
      'GET',
      `/v1/projects/${PROJECT}/events?limit=100&addonId=${addonId}${query}${after}`,
    );
    expect(page.status).toBe(200);
    events.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return events;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-events-'));
  // As root, each engine runs as its own OS user, who must be able to walk down to the data directory.
  await chmod(dataDir, 0o755);
  const emptyBin = join(dataDir, 'no-client-tools');
  await mkdir(emptyBin);
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: join(dataDir, 'state'),
    ADDONS_TOKEN: TOKEN,
    ADDONS_PG_BIN_DIR: emptyBin,
    ADDONS_CLOCK_SPEED: '3600',
    ADDONS_SCHEDULER_TICK_MS: '250',
  });
  api = client(platform.url, TOKEN);
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
    body: { name: 'feed', engine: 'postgresql' },
  });
  addonId = created.body.addon.id;
  expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(join(dataDir, 'state'));
  await removePlatformData(dataDir);
});

describe('the events feed', () => {
  it("shows a backup's creation and then its completion, with the operation's id", async () => {
    const { operation } = await backUpAndWait(api, PROJECT, base(), { type: 'snapshot' });
    expect(operation.status).toBe('completed');

    const events = (await feed()).filter((event) => event.operation?.id === operation.id);

    expect(events.map((event) => event.type)).toEqual(['operation.created', 'operation.completed']);
    expect(events[1]).toMatchObject({ id: `${operation.id}.completed`, occurredAt: operation.completedAt });
    // A workload waiting for the backup filters on the type and starts where it last looked.
    const since = encodeURIComponent(events[0]?.occurredAt ?? '');
    const completed = await feed(`&type=operation.completed&since=${since}`);
    expect(completed.map((event) => event.operation?.id)).toContain(operation.id);
    expect(completed.every((event) => event.type === 'operation.completed')).toBe(true);
  });

  it('shows a failed scheduled backup, and the addon shows its backup health degraded', async () => {
    // A team's rule on backup health, with a webhook served by this test.
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push(Buffer.concat(chunks).toString('utf8'));
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const rule = await api('POST', `/v1/projects/${PROJECT}/alert-rules`, {
      body: {
        name: 'backups of feed',
        metric: 'backup.problems',
        comparison: 'at-least',
        threshold: 1,
        addons: [addonId],
        channels: {
          webhooks: [{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }],
        },
      },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);

    const schedule = await api('POST', `${base()}/backup-schedules`, {
      body: { interval: 'hourly', minutes: [0], retentionDays: 1, type: 'dump', compression: 'gzip' },
    });
    expect(schedule.status).toBe(201);

    const failed = await pollUntil(
      () => feed('&type=operation.failed'),
      (events) => events.some((event) => event.operation?.type === 'backup'),
      { what: 'a failed scheduled backup in the feed', timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(failed[0]?.operation?.error?.message).toMatch(/pg_dump is not installed/);
    const degraded = await pollUntil(
      () => feed('&type=backup-health.degraded'),
      (events) => events.length > 0,
      { what: 'the backup health to degrade', timeoutMs: 60_000, intervalMs: 250 },
    );
    // One event per change of state, however many ticks saw it degraded.
    expect(degraded).toHaveLength(1);
    expect(degraded[0]?.backupHealth?.state).toBe('degraded');

    const addon = await api('GET', base());
    expect(addon.body.backupHealth).toMatchObject({ state: 'degraded' });
    expect(addon.body.backupHealth.lastFailedScheduledBackup).not.toBeNull();
    expect(addon.body.backupHealth.lastSuccessfulBackup).not.toBeNull();
    expect(Date.parse(addon.body.backupHealth.nextScheduledRun)).not.toBeNaN();
    // The list stays fast: no backup health there.
    const list = await api('GET', `/v1/projects/${PROJECT}/addons`);
    expect(list.body.items[0].backupHealth).toBeUndefined();

    // The same change through the alert channels: the team's webhook once, and the default rule's event.
    const delivered = await pollUntil(
      async () => received,
      (bodies) => bodies.length > 0,
      { what: 'the backup-health webhook', timeoutMs: 30_000, intervalMs: 250 },
    );
    const payload = JSON.parse(delivered[0] ?? '{}');
    expect(payload).toMatchObject({
      type: 'alert.firing',
      addonId,
      alert: { ruleId: rule.body.id, metric: 'backup.problems', state: 'firing' },
    });
    const fired = await pollUntil(
      () => feed('&type=alert.firing'),
      (events) => events.length >= 2,
      { what: 'the alert events', timeoutMs: 30_000, intervalMs: 250 },
    );
    const names = fired.map((event) => (event as unknown as { alert: { ruleName: string } }).alert.ruleName);
    expect(names.sort()).toEqual(['Backup health degraded', 'backups of feed']);
    expect(received).toHaveLength(1);
    await new Promise((resolve) => receiver.close(resolve));
  });
});
