import { describe, expect, it } from 'vitest';
import { AddonsApiError, createAddonsClient, type Operation, WaitTimeoutError } from '../../client/index.ts';

/** A fake server: answers each request with the next of `answers` and records what was sent. */
const fakeApi = (answers: (() => Response)[]) => {
  const sent: Request[] = [];
  const fetch = async (request: Request) => {
    sent.push(request);
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${request.method} ${request.url}`);
    return next();
  };
  return { sent, fetch: fetch as typeof globalThis.fetch };
};

const json =
  (status: number, body: unknown, type = 'application/json') =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });

const operation = (status: Operation['status'], step: string, percent: number): Operation => ({
  id: 'op-1',
  type: 'create',
  status,
  projectId: 'p',
  addonId: 'adn-1',
  backupId: null,
  progress: { step, percent },
  error: null,
  createdAt: '2026-12-01T00:00:00Z',
  startedAt: null,
  completedAt: null,
});

const path = { projectId: 'p', addonId: 'adn-1' };

describe('typed client', () => {
  it('sends the bearer token, and a fresh Idempotency-Key on idempotent routes only', async () => {
    const { sent, fetch } = fakeApi([
      json(202, { backup: {}, operation: {} }),
      json(202, { backup: {}, operation: {} }),
      json(200, {}),
    ]);
    const api = createAddonsClient({ baseUrl: 'http://api.test/', token: () => 'secret-token', fetch });
    await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path },
      body: { type: 'dump' },
    });
    await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path },
      body: { type: 'dump' },
    });
    await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/abort', {
      params: { path: { ...path, backupId: 'bkp-1' } },
    });
    expect(sent.map((request) => request.url)).toEqual([
      'http://api.test/v1/projects/p/addons/adn-1/backups',
      'http://api.test/v1/projects/p/addons/adn-1/backups',
      'http://api.test/v1/projects/p/addons/adn-1/backups/bkp-1/abort',
    ]);
    expect(sent.every((request) => request.headers.get('authorization') === 'Bearer secret-token')).toBe(
      true,
    );
    const [first, second, abort] = sent.map((request) => request.headers.get('idempotency-key'));
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(second).toMatch(/^[0-9a-f]{32}$/);
    expect(second).not.toBe(first);
    expect(abort).toBeNull();
  });

  it('keeps a key the caller gives, and retries a 503 with that same key', async () => {
    const { sent, fetch } = fakeApi([
      json(
        503,
        { type: 'x/unavailable', title: 'Service unavailable', status: 503 },
        'application/problem+json',
      ),
      json(202, { addon: { id: 'adn-1' }, operation: { id: 'op-1' } }),
    ]);
    const api = createAddonsClient({ baseUrl: 'http://api.test', token: 'tok', fetch });
    const created = await api.POST('/v1/projects/{projectId}/addons', {
      params: { path: { projectId: 'p' }, header: { 'idempotency-key': 'my-key-1' } },
      body: { name: 'orders', engine: 'postgresql' },
    });
    expect(created.addon.id).toBe('adn-1');
    expect(sent.map((request) => request.headers.get('idempotency-key'))).toEqual(['my-key-1', 'my-key-1']);
  });

  it('does not repeat a request that could act twice (no key, not a read)', async () => {
    const { sent, fetch } = fakeApi([
      json(
        503,
        { type: 'x/unavailable', title: 'Service unavailable', status: 503 },
        'application/problem+json',
      ),
    ]);
    const api = createAddonsClient({ baseUrl: 'http://api.test', fetch });
    await expect(
      api.DELETE('/v1/projects/{projectId}/addons/{addonId}', { params: { path } }),
    ).rejects.toMatchObject({ status: 503, title: 'Service unavailable' });
    expect(sent).toHaveLength(1);
  });

  it('turns a problem+json answer into an AddonsApiError with its title, detail and field issues', async () => {
    const problem = {
      type: 'https://addons.dev/problems/validation',
      title: 'The request is not valid',
      status: 400,
      detail: 'body.name must be DNS-safe',
      errors: [{ path: 'body.name', message: 'must be DNS-safe' }],
    };
    const { fetch } = fakeApi([json(400, problem, 'application/problem+json')]);
    const api = createAddonsClient({ baseUrl: 'http://api.test', fetch });
    const error = await api
      .POST('/v1/projects/{projectId}/addons', {
        params: { path: { projectId: 'p' } },
        body: { name: 'Bad Name', engine: 'postgresql' },
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AddonsApiError);
    expect(error).toMatchObject({
      status: 400,
      kind: 'validation',
      title: 'The request is not valid',
      detail: 'body.name must be DNS-safe',
      errors: [{ path: 'body.name', message: 'must be DNS-safe' }],
      problem,
      request: 'POST /v1/projects/{projectId}/addons',
    });
  });

  it('names an answer that is not a problem after its HTTP status', async () => {
    const { fetch } = fakeApi([
      () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    ]);
    const api = createAddonsClient({ baseUrl: 'http://api.test', fetch });
    await expect(api.GET('/v1/addon-types')).rejects.toMatchObject({
      status: 502,
      title: 'Bad Gateway: <html>bad gateway</html>',
      errors: [],
      problem: undefined,
    });
  });

  it('waits for an operation, calling onProgress once per change, and returns it as it ended', async () => {
    const { fetch } = fakeApi([
      json(200, operation('pending', 'queued', 0)),
      json(200, operation('in-progress', 'start-engine', 40)),
      json(200, operation('in-progress', 'start-engine', 40)),
      json(200, operation('failed', 'start-engine', 40)),
    ]);
    const api = createAddonsClient({ baseUrl: 'http://api.test', fetch });
    const seen: string[] = [];
    const ended = await api.waitForOperation('p', 'op-1', {
      intervalMs: 1,
      onProgress: (op) => seen.push(`${op.status} ${op.progress.step} ${op.progress.percent}`),
    });
    expect(ended.status).toBe('failed');
    expect(seen).toEqual(['pending queued 0', 'in-progress start-engine 40', 'failed start-engine 40']);
  });

  it('stops waiting on abort or timeout without touching the operation', async () => {
    const forever = () => json(200, operation('in-progress', 'dump', 10))();
    const endless = { fetch: (async () => forever()) as typeof globalThis.fetch };
    const api = createAddonsClient({ baseUrl: 'http://api.test', ...endless });
    const timedOut = await api
      .waitForOperation('p', 'op-1', { intervalMs: 5, timeoutMs: 50 })
      .catch((caught: unknown) => caught);
    expect(timedOut).toBeInstanceOf(WaitTimeoutError);
    expect((timedOut as WaitTimeoutError).last?.progress.step).toBe('dump');

    const controller = new AbortController();
    const waiting = api.waitForOperation('p', 'op-1', {
      intervalMs: 5,
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('interrupted')),
    });
    await expect(waiting).rejects.toThrow('interrupted');
  });
});
