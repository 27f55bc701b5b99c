import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '#shared/services/webhook-signing.ts';
import { pollUntil } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';

/**
 * Alerts on the local target, as a user meets them: a rule with a threshold every running Redis
 * server passes (`memory > 1` byte, for 2 seconds) on one addon, a webhook receiver in this test,
 * and the signed `alert.firing` notification, the delivery history and the event that follow; then
 * a rule on connections that fires while four clients hold theirs and resolves when they close,
 * one notification each. The
 * sampler runs every second, the scheduler's tick (which evaluates rules) every 250 ms.
 */
const TOKEN = 'e2e-alerts-token-0123456789';
const PROJECT = 'alerts';
const api = localPlatformForFile('alerts', TOKEN, {
  ADDONS_METRICS_INTERVAL_SECONDS: '1',
  ADDONS_SCHEDULER_TICK_MS: '250',
});

interface Received {
  at: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

describe('alert rules on the local target', () => {
  const received: Received[] = [];
  let receiver: Server;
  let receiverUrl: string;
  let addonId: string;

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          at: Date.now(),
          body: Buffer.concat(chunks).toString('utf8'),
          headers: request.headers,
        });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/addons`;
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'alerts-redis', engine: 'redis' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('refuses a bad rule with a problem naming the field', async () => {
    const bad = await api('POST', `/v1/projects/${PROJECT}/alert-rules`, {
      body: {
        name: 'bad',
        metric: 'memory',
        comparison: '>',
        threshold: 1,
        channels: { webhooks: [{ url: 'ftp://example.com/hook' }] },
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.errors.map((issue: { path: string }) => issue.path)).toEqual([
      'body.channels.webhooks.0.url',
    ]);
  });

  it('fires once, delivers a signed webhook and records the delivery and the event', async () => {
    // Prepare: the project's default rules exist before any is asked for.
    const listed = await api('GET', `/v1/projects/${PROJECT}/alert-rules`);
    expect(listed.status).toBe(200);
    expect(
      listed.body.items.filter((rule: { isDefault: boolean }) => rule.isDefault).length,
    ).toBeGreaterThanOrEqual(3);

    // Act: a rule every running Redis server breaks, with the receiver as its webhook.
    const created = await api('POST', `/v1/projects/${PROJECT}/alert-rules`, {
      body: {
        name: 'redis memory',
        metric: 'memory',
        comparison: 'above',
        threshold: 1,
        durationSeconds: 2,
        addons: [addonId],
        channels: { webhooks: [{ url: receiverUrl }] },
      },
    });
    expect(created.status).toBe(201);
    const rule = created.body;
    expect(rule.comparison).toBe('>');
    expect(rule.signingSecret).toMatch(/^whsec_/);
    expect(
      (await api('GET', `/v1/projects/${PROJECT}/alert-rules/${rule.id}`)).body.signingSecret,
    ).toBeUndefined();

    // Assess: one signed firing notification arrives.
    await pollUntil(
      async () => received.length,
      (count) => count > 0,
      { timeoutMs: 30_000, intervalMs: 200, what: 'a webhook' },
    );
    const [first] = received as [Received];
    const payload = JSON.parse(first.body);
    expect(payload).toMatchObject({ type: 'alert.firing', projectId: PROJECT, addonId });
    expect(payload.alert).toMatchObject({ ruleId: rule.id, metric: 'memory', state: 'firing' });
    expect(payload.alert.value).toBeGreaterThan(1);
    expect(first.headers['x-addons-event']).toBe('alert.firing');
    expect(verifySignature(rule.signingSecret, first.body, String(first.headers['x-addons-signature']))).toBe(
      true,
    );
    expect(verifySignature('whsec_other', first.body, String(first.headers['x-addons-signature']))).toBe(
      false,
    );

    const history = await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/alert-rules/${rule.id}/deliveries`),
      (response) => response.body.items.length > 0,
      { timeoutMs: 10_000, what: 'the delivery history' },
    );
    expect(history.body.items[0]).toMatchObject({
      deliveryId: payload.deliveryId,
      eventId: payload.id,
      kind: 'firing',
      channel: 'webhook',
      target: receiverUrl,
      attempt: 1,
      outcome: 'succeeded',
      statusCode: 204,
      error: null,
      nextAttemptAt: null,
    });
    const state = (await api('GET', `/v1/projects/${PROJECT}/alert-rules/${rule.id}`)).body.states;
    expect(state).toEqual([expect.objectContaining({ addonId, state: 'firing' })]);
    const events = await api('GET', `/v1/projects/${PROJECT}/events?type=alert.firing&addonId=${addonId}`);
    expect(events.body.items).toEqual([expect.objectContaining({ id: payload.id, alert: payload.alert })]);

    // Still firing three samples later: no second notification. (Within the second the webhook
    // arrived, the window from then to now is empty: a 422 naming `from`, so keep asking.)
    const since = new Date(first.at).toISOString();
    await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/addons/${addonId}/metrics?names=memory&step=1&from=${since}`),
      (response) =>
        response.status === 200 &&
        response.body.series[0].values.filter((value: number | null) => value !== null).length >= 3,
      { timeoutMs: 10_000, what: 'three more samples' },
    );
    expect(received).toHaveLength(1);
  });

  it('fires on connections while clients hold them and resolves when they close, exactly once each', async () => {
    // Prepare: the addon's password, and clients that authenticate over plain sockets (RESP).
    const credentials = await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}/credentials`);
    const uri = new URL(credentials.body.uri);
    const openClient = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: uri.hostname, port: Number(uri.port) }, () => {
          socket.write(
            `AUTH ${decodeURIComponent(uri.username || 'default')} ${decodeURIComponent(uri.password)}\r\nPING\r\n`,
          );
        });
        let seen = '';
        socket.on('data', (chunk: Buffer) => {
          seen += chunk.toString('utf8');
          if (seen.includes('+PONG')) resolve(socket);
          if (seen.startsWith('-')) reject(new Error(seen));
        });
        socket.on('error', reject);
      });
    const created = await api('POST', `/v1/projects/${PROJECT}/alert-rules`, {
      body: {
        name: 'redis clients',
        metric: 'connections',
        comparison: 'at-least',
        threshold: 4,
        durationSeconds: 1,
        addons: [addonId],
        channels: { webhooks: [{ url: receiverUrl }] },
      },
    });
    expect(created.status).toBe(201);
    const ruleId = created.body.id as string;
    const ofRule = () =>
      received
        .map((notification) => JSON.parse(notification.body))
        .filter((payload) => payload.alert?.ruleId === ruleId)
        .map((payload) => payload.alert.state as string);

    // Act: four clients connect, then all close.
    const clients = await Promise.all([openClient(), openClient(), openClient(), openClient()]);
    await pollUntil(
      async () => ofRule(),
      (states) => states.includes('firing'),
      {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: 'the firing webhook',
      },
    );
    for (const client of clients) client.destroy();
    await pollUntil(
      async () => ofRule(),
      (states) => states.includes('ok'),
      {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: 'the resolved webhook',
      },
    );

    // Assess: three more samples later, still one firing and one resolved notification.
    const since = new Date().toISOString();
    await pollUntil(
      () =>
        api(
          'GET',
          `/v1/projects/${PROJECT}/addons/${addonId}/metrics?names=connections&step=1&from=${since}`,
        ),
      (response) =>
        response.status === 200 &&
        response.body.series[0].values.filter((value: number | null) => value !== null).length >= 3,
      { timeoutMs: 15_000, what: 'three more samples' },
    );
    expect(ofRule()).toEqual(['firing', 'ok']);
  }, 90_000);
});
