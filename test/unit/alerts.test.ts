import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationError } from '#shared/errors.ts';
import type { MetricName } from '#shared/metrics/catalog.ts';
import { CreateAlertRuleRequestSchema } from '#shared/schemas/alert.ts';
import { AlertDispatcher, backoffMs, type WebhookPost } from '#shared/services/alert-dispatcher.ts';
import { type AlertPoint, type Evaluated, evaluateCondition } from '#shared/services/alert-evaluation.ts';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { AlertRuleService, availabilityFromSource } from '#shared/services/alert-rules.ts';
import { signatureOf, verifySignature } from '#shared/services/webhook-signing.ts';
import { type AlertRuleRecord, AlertStore } from '#shared/store/alert-store.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { addonRecord } from '../support/fixtures.ts';

const condition = { comparison: '>' as const, threshold: 80, durationSeconds: 60 };
/** Points every 10 s ending at `end`, oldest first. */
const series = (end: number, values: number[]): AlertPoint[] =>
  values.map((value, index) => ({ at: end - (values.length - 1 - index) * 10, value }));

describe('evaluating a condition', () => {
  const now = 10_000;

  it('goes pending on a breach, firing once the breach lasted the duration, and stays firing', () => {
    const pending = evaluateCondition(condition, undefined, series(now, [50, 50, 90, 95]), now, 30);
    expect(pending).toEqual({ state: 'pending', since: now - 10, value: 95 });
    const stillPending = evaluateCondition(
      condition,
      pending,
      series(now + 40, [50, 90, 95, 91, 92, 93]),
      now + 40,
      30,
    );
    expect(stillPending?.state).toBe('pending');
    const firing = evaluateCondition(
      condition,
      stillPending,
      series(now + 60, [50, 90, 95, 91, 92, 93, 94, 99]),
      now + 60,
      30,
    );
    expect(firing).toEqual({ state: 'firing', since: now + 60, value: 99 });
    const again = evaluateCondition(condition, firing, series(now + 70, [99, 98]), now + 70, 30);
    expect(again).toEqual({ state: 'firing', since: now + 60, value: 98 });
  });

  it('resolves when the value is back, and a pending breach that ends goes back to ok', () => {
    const firing: Evaluated = { state: 'firing', since: now - 100, value: 99 };
    expect(evaluateCondition(condition, firing, series(now, [99, 70]), now, 30)).toEqual({
      state: 'ok',
      since: now,
      value: 70,
    });
    const pending: Evaluated = { state: 'pending', since: now - 20, value: 90 };
    expect(evaluateCondition(condition, pending, series(now, [90, 79]), now, 30)?.state).toBe('ok');
  });

  it('fires at once with a zero duration, and keeps the state without fresh data', () => {
    expect(
      evaluateCondition({ ...condition, durationSeconds: 0 }, undefined, series(now, [81]), now, 30)?.state,
    ).toBe('firing');
    expect(evaluateCondition(condition, undefined, [], now, 30)).toBeUndefined();
    expect(evaluateCondition(condition, undefined, series(now - 100, [99]), now, 30)).toBeUndefined();
  });

  it('compares with each operator', () => {
    const at = (comparison: '>' | '>=' | '<' | '<=') =>
      evaluateCondition(
        { comparison, threshold: 80, durationSeconds: 0 },
        undefined,
        series(now, [80]),
        now,
        30,
      )?.state;
    expect([at('>'), at('>='), at('<'), at('<=')]).toEqual(['ok', 'firing', 'ok', 'firing']);
  });
});

describe('webhook signatures', () => {
  const body = '{"id":"e1"}';
  const t = 1_800_000_000;

  it('verifies what was signed and nothing else', () => {
    const header = signatureOf('whsec_a', body, t);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('whsec_a', body, header, t + 10)).toBe(true);
    expect(verifySignature('whsec_b', body, header, t + 10)).toBe(false);
    expect(verifySignature('whsec_a', '{"id":"e2"}', header, t + 10)).toBe(false);
    expect(verifySignature('whsec_a', body, header.replace('t=1800000000', 't=1800000001'), t + 10)).toBe(
      false,
    );
    expect(verifySignature('whsec_a', body, header, t + 301)).toBe(false);
    expect(verifySignature('whsec_a', body, undefined, t)).toBe(false);
  });

  it('backs off exponentially up to its cap', () => {
    const policy = { baseDelayMs: 1_000, maxDelayMs: 5_000 };
    expect([1, 2, 3, 4].map((attempt) => backoffMs(policy, attempt))).toEqual([1_000, 2_000, 4_000, 5_000]);
  });
});

describe('alert state changes, notifications and deliveries (dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  let alerts: AlertStore;
  let notifier: AlertNotifier;
  const project = 'alerts-unit';

  beforeAll(async () => {
    env = await startTestStore();
    alerts = new AlertStore({ client: env.documentClient, tableName: TEST_TABLE });
    notifier = new AlertNotifier({ alerts, events: env.store.events });
  });
  afterAll(async () => env.stop());

  const rule = async (
    id: string,
    webhooks: string[] = ['https://hooks.example.com/a'],
  ): Promise<AlertRuleRecord> => {
    const now = new Date().toISOString();
    const record: AlertRuleRecord = {
      id,
      projectId: project,
      name: 'cpu',
      metric: 'cpu',
      unit: 'percent',
      comparison: '>',
      threshold: 80,
      durationSeconds: 0,
      addons: 'all',
      channels: { webhooks: webhooks.map((url) => ({ url })), emails: [] },
      enabled: true,
      isDefault: false,
      signingSecret: 'whsec_unit',
      signingSecretCreatedAt: now,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    await alerts.createRule(record);
    return record;
  };
  const alertEvents = async () =>
    (await env.store.events.list(project, { limit: 100 })).items.filter((event) =>
      event.type.startsWith('alert.'),
    );

  it('notifies once per change to and from firing, never once per evaluation', async () => {
    const r = await rule('alr-flood');
    const t0 = Math.floor(Date.now() / 1000); // events older than 30 days leave the feed
    const step = async (state: Evaluated['state'], at: number) =>
      notifier.transition(r, 'adn-one', await alerts.findState(project, r.id, 'adn-one'), {
        state,
        since: t0 + at,
        value: 90,
      });

    expect(await step('ok', 0)).toBeUndefined();
    expect(await step('pending', 10)).toBeUndefined();
    expect(await step('firing', 20)).toMatchObject({ kind: 'firing' });
    for (let tick = 0; tick < 5; tick += 1) expect(await step('firing', 20)).toBeUndefined();
    expect(await step('ok', 100)).toMatchObject({ kind: 'resolved' });
    expect(await step('ok', 100)).toBeUndefined();

    const events = (await alertEvents()).filter((event) => event.alert?.ruleId === r.id);
    expect(events.map((event) => [event.type, event.alert?.state])).toEqual([
      ['alert.firing', 'firing'],
      ['alert.resolved', 'ok'],
    ]);
    expect(
      (await alerts.due(new Date(Date.now() + 1000).toISOString())).filter((d) => d.ruleId === r.id),
    ).toHaveLength(2);
  });

  it('repairs a change a crash left unannounced: its event and delivery appear once', async () => {
    const r = await rule('alr-crash');
    // A crash right after the state write: the state says firing, nothing else was written.
    await alerts.putState(
      {
        projectId: project,
        ruleId: r.id,
        addonId: 'adn-two',
        state: 'firing',
        since: '2026-12-01T10:00:00.000Z',
        value: 95,
        revision: 1,
        eventId: `${r.id}.adn-two.alert.firing.1`,
        announced: false,
      },
      undefined,
    );
    expect(await notifier.repair()).toBeGreaterThanOrEqual(1);
    expect(await notifier.repair()).toBe(0);
    const events = (await alertEvents()).filter((event) => event.alert?.ruleId === r.id);
    expect(events).toHaveLength(1);
    const queued = (await alerts.due(new Date(Date.now() + 1000).toISOString())).filter(
      (d) => d.ruleId === r.id,
    );
    expect(queued).toHaveLength(1);
    expect(JSON.parse(queued[0]?.payload ?? '{}')).toMatchObject({ id: events[0]?.id, type: 'alert.firing' });
  });

  it('retries a failed webhook with backoff, records every attempt, signs each, and gives up after the last', async () => {
    const r = await rule('alr-retry', ['https://hooks.example.com/retry']);
    await notifier.transition(r, 'adn-three', undefined, { state: 'firing', since: 2_000, value: 99 });
    let clock = Date.now() + 1_000;
    const calls: Array<{ body: string; signature: string }> = [];
    let answers = [500, 503, 200];
    const post: WebhookPost = async (url, body, headers) => {
      if (url !== 'https://hooks.example.com/retry') return { status: 200 };
      calls.push({ body, signature: headers['x-addons-signature'] ?? '' });
      const [status = 500, ...rest] = answers;
      answers = rest;
      if (status === 503) throw new Error('connect ECONNREFUSED');
      return { status };
    };
    const dispatcher = new AlertDispatcher({
      alerts,
      post,
      now: () => new Date(clock),
      policy: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000 },
    });

    expect((await dispatcher.run()).retrying).toHaveLength(1);
    expect((await dispatcher.run()).retrying).toHaveLength(0); // not due yet
    clock += 1_000;
    expect((await dispatcher.run()).retrying).toHaveLength(1);
    clock += 2_000;
    expect((await dispatcher.run()).delivered).toHaveLength(1);

    expect(calls).toHaveLength(3);
    for (const call of calls)
      expect(verifySignature('whsec_unit', call.body, call.signature, Math.floor(clock / 1000))).toBe(true);
    const history = (await alerts.listAttempts(project, r.id, { limit: 10 })).items;
    expect(history.map((attempt) => [attempt.attempt, attempt.outcome, attempt.statusCode])).toEqual([
      [3, 'succeeded', 200],
      [2, 'failed', null],
      [1, 'failed', 500],
    ]);
    expect(history[1]?.error).toContain('ECONNREFUSED');
    expect(history[2]?.nextAttemptAt).toBe(new Date(Date.parse(history[2]?.at ?? '') + 1_000).toISOString());

    // A receiver that never answers 2xx: three attempts, then no more.
    const down = await rule('alr-down', ['https://hooks.example.com/down']);
    await notifier.transition(down, 'adn-four', undefined, { state: 'firing', since: 3_000, value: 99 });
    const failing = new AlertDispatcher({
      alerts,
      post: async () => ({ status: 410 }),
      now: () => new Date(clock),
      policy: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 1_000 },
    });
    const outcomes: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      clock += 1_000;
      const summary = await failing.run();
      outcomes.push(...summary.retrying.map(() => 'retry'), ...summary.failed.map(() => 'failed'));
    }
    expect(outcomes).toEqual(['retry', 'retry', 'failed']);
    expect((await alerts.listAttempts(project, down.id, { limit: 10 })).items).toHaveLength(3);
  });
});

describe('alert rule validation', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  const project = 'alerts-rules';
  const pg = addonRecord({ projectId: project, status: 'running' });
  const addons = {
    findAddon: async (projectId: string, id: string) =>
      projectId === project && id === pg.id ? pg : undefined,
    listAddons: async (projectId: string) => ({ items: projectId === project ? [pg] : [], nextCursor: null }),
  };
  const localSource = {
    unavailable: (_engine: string, name: MetricName) =>
      name === 'memory.free' ? 'not sampled locally' : undefined,
  };
  const service = (target: 'local' | 'aws') =>
    new AlertRuleService({
      alerts: new AlertStore({ client: env.documentClient, tableName: TEST_TABLE }),
      addons,
      target,
      available: availabilityFromSource(localSource),
    });
  const request = (overrides: Record<string, unknown>) =>
    CreateAlertRuleRequestSchema.parse({
      name: 'r',
      metric: 'cpu',
      comparison: '>',
      threshold: 1,
      ...overrides,
    });
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught as ValidationError,
    );
    return { name: error?.name, paths: error?.issues.map((issue) => issue.path) };
  };

  beforeAll(async () => {
    env = await startTestStore();
  });
  afterAll(async () => env.stop());

  it('names the field of each refusal', async () => {
    expect(await refusal(service('local').create(project, request({ addons: ['adn-elsewhere'] })))).toEqual({
      name: 'ValidationError',
      paths: ['body.addons.0'],
    });
    expect(
      await refusal(service('local').create(project, request({ addons: [pg.id], metric: 'redis.memory' }))),
    ).toEqual({
      name: 'ValidationError',
      paths: ['body.metric'],
    });
    expect(
      await refusal(
        service('aws').create(
          project,
          request({ channels: { webhooks: [{ url: 'http://hooks.example.com' }] } }),
        ),
      ),
    ).toEqual({
      name: 'ValidationError',
      paths: ['body.channels.webhooks.0.url'],
    });
    expect(
      await refusal(
        service('local').create(project, request({ channels: { webhooks: [{ url: 'not a url' }] } })),
      ),
    ).toEqual({
      name: 'ValidationError',
      paths: ['body.channels.webhooks.0.url'],
    });
    expect(
      await refusal(service('local').create(project, request({ channels: { emails: ['ops@example.com'] } }))),
    ).toEqual({
      name: 'UnsupportedError',
      paths: ['body.channels.emails'],
    });
    expect(await refusal(service('local').create(project, request({ metric: 'memory.free' })))).toEqual({
      name: 'UnsupportedError',
      paths: ['body.metric'],
    });
    expect(
      CreateAlertRuleRequestSchema.safeParse({ name: 'r', metric: 'nope', comparison: '>', threshold: 1 })
        .error?.issues[0]?.path,
    ).toEqual(['metric']);
    expect(
      CreateAlertRuleRequestSchema.safeParse({ name: 'r', metric: 'cpu', comparison: '>', threshold: '90' })
        .error?.issues[0]?.path,
    ).toEqual(['threshold']);
    expect(
      CreateAlertRuleRequestSchema.safeParse({
        name: 'r',
        metric: 'cpu',
        comparison: '>',
        threshold: 9,
        durationSeconds: 86_401,
      }).error?.issues[0]?.path,
    ).toEqual(['durationSeconds']);
  });

  it('gives a project its default rules once: a deleted one does not come back', async () => {
    const rules = service('local');
    const first = await rules.list('alerts-defaults', { limit: 100 });
    expect(
      first.items.map((rule) => [rule.metric, rule.comparison, rule.threshold, rule.durationSeconds]),
    ).toEqual(
      expect.arrayContaining([
        ['storage.used-percent', '>', 85, 300],
        ['connections.used-percent', '>', 90, 300],
        ['cpu', '>', 90, 600],
        ['replication-lag', '>', 60, 300],
        ['backup.problems', '>=', 1, 0],
      ]),
    );
    expect(first.items.every((rule) => rule.isDefault && rule.channels.webhooks.length === 0)).toBe(true);
    const cpu = first.items.find((rule) => rule.metric === 'cpu');
    await rules.delete('alerts-defaults', cpu?.id ?? '');
    const again = await rules.list('alerts-defaults', { limit: 100 });
    expect(again.items.map((rule) => rule.metric)).not.toContain('cpu');
    expect(again.items).toHaveLength(first.items.length - 1);
  });

  it('offers a project that got the first defaults the one added since, once', async () => {
    const rules = service('local');
    // A project whose defaults were recorded before the offered keys were (the first four).
    await env.documentClient.send(
      new PutCommand({
        TableName: TEST_TABLE,
        Item: { pk: 'PROJECT#alerts-older', sk: 'ALERTDEFAULTS', at: new Date().toISOString() },
      }),
    );
    const listed = await rules.list('alerts-older', { limit: 100 });
    expect(listed.items.map((rule) => rule.metric)).toEqual(['backup.problems']);
    await rules.delete('alerts-older', listed.items[0]?.id ?? '');
    expect((await rules.list('alerts-older', { limit: 100 })).items).toEqual([]);
  });

  it('refuses a duration on backup.problems, naming the field', async () => {
    const rules = service('local');
    expect(
      await refusal(
        rules.create(project, request({ metric: 'backup.problems', threshold: 1, durationSeconds: 60 })),
      ),
    ).toEqual({ name: 'ValidationError', paths: ['body.durationSeconds'] });
  });

  it('shows the signing secret on create and on rotation only', async () => {
    const rules = service('local');
    const created = await rules.create(
      project,
      request({ channels: { webhooks: [{ url: 'http://127.0.0.1:9/hook' }] } }),
    );
    expect(created.signingSecret).toMatch(/^whsec_/);
    expect((await rules.get(project, created.id)).signingSecret).toBeUndefined();
    const rotated = await rules.update(project, created.id, {
      rotateSigningSecret: true,
      comparison: 'at-most',
    });
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(created.signingSecret);
    expect(rotated.comparison).toBe('<=');
    expect((await rules.update(project, created.id, { threshold: 5 })).signingSecret).toBeUndefined();
  });
});
