import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalogHandler } from '#functions/api/catalog.ts';
import { createMetaHandler } from '#functions/api/meta.ts';
import { type ApiLambda, LocalGateway } from '#infra/local/gateway.ts';
import { TokenBucketLimiter } from '#shared/api/rate-limit.ts';
import { routes } from '#shared/api/routes.ts';
import { apiEvent, context, json } from '../support/events.ts';

const logger = new Logger({ logLevel: 'SILENT' });

describe('token bucket', () => {
  it('allows a burst, refuses the next request with a Retry-After, and refills with time', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perSecond: 2, burst: 3 }, () => now);

    const burst = [limiter.take('a'), limiter.take('a'), limiter.take('a')];
    const refused = limiter.take('a');
    const other = limiter.take('b');
    now = 500;
    const later = limiter.take('a');

    expect(burst.map((decision) => decision.allowed)).toEqual([true, true, true]);
    expect(burst.map((decision) => decision.remaining)).toEqual([2, 1, 0]);
    expect(refused).toMatchObject({ allowed: false, limit: 3, remaining: 0, retryAfterSeconds: 1 });
    expect(refused.resetSeconds).toBe(2);
    expect(other.allowed).toBe(true);
    expect(later.allowed).toBe(true);
  });
});

describe('the Lambda handler chain', () => {
  it('answers 429 problem+json with Retry-After past the limit, and RateLimit headers on every answer', async () => {
    const handler = createCatalogHandler({
      logger,
      target: 'local',
      rateLimiter: new TokenBucketLimiter({ perSecond: 1, burst: 1 }),
    });

    const first = await handler(apiEvent(routes.listAddonTypes), context());
    const second = await handler(apiEvent(routes.listAddonTypes), context());

    expect(first.statusCode).toBe(200);
    expect(first.headers).toMatchObject({ 'ratelimit-limit': '1', 'ratelimit-remaining': '0' });
    expect(second.statusCode).toBe(429);
    expect(second.headers).toMatchObject({
      'content-type': 'application/problem+json',
      'retry-after': '1',
      'ratelimit-limit': '1',
      'ratelimit-remaining': '0',
    });
    expect(json(second)).toMatchObject({
      status: 429,
      limit: 1,
      type: 'https://addons.dev/problems/rate-limited',
    });
  });
});

describe('the local gateway', () => {
  let gateway: LocalGateway | undefined;
  afterEach(async () => gateway?.close());

  const start = async (burst: number, corsOrigins: string[] = []) => {
    const meta = createMetaHandler({ logger, target: 'local' });
    const catalog = createCatalogHandler({ logger, target: 'local' });
    const handlers = { meta, catalog } as unknown as Record<string, ApiLambda>;
    gateway = new LocalGateway({
      handlers: handlers as never,
      token: 'gateway-test-token-0123',
      rateLimiter: new TokenBucketLimiter({ perSecond: 1, burst }),
      corsOrigins,
    });
    return gateway.listen(0, '127.0.0.1');
  };

  it('limits every request, even one with a bad token, and says when to retry', async () => {
    const url = await start(2);

    const answers = [
      await fetch(`${url}/health`),
      await fetch(`${url}/v1/addon-types`, { headers: { authorization: 'Bearer wrong' } }),
      await fetch(`${url}/health`),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([200, 401, 429]);
    expect(answers[0]?.headers.get('ratelimit-remaining')).toBe('1');
    expect(answers[1]?.headers.get('ratelimit-remaining')).toBe('0');
    const refused = answers[2];
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(refused?.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused?.json()).toMatchObject({ status: 429, limit: 2 });
  });

  it('counts the token holder apart from anonymous callers', async () => {
    const url = await start(1);
    const auth = { authorization: 'Bearer gateway-test-token-0123' };

    const anonymous = await fetch(`${url}/health`);
    const holder = await fetch(`${url}/v1/addon-types`, { headers: auth });

    expect(anonymous.status).toBe(200);
    expect(holder.status).toBe(200);
  });

  it('answers CORS only for an allowed origin', async () => {
    const url = await start(100, ['https://console.example.com']);

    const allowed = await fetch(`${url}/health`, { headers: { origin: 'https://console.example.com' } });
    const other = await fetch(`${url}/health`, { headers: { origin: 'https://evil.example.com' } });
    const preflight = await fetch(`${url}/v1/addon-types`, {
      method: 'OPTIONS',
      headers: { origin: 'https://console.example.com', 'access-control-request-method': 'GET' },
    });
    const refusedPreflight = await fetch(`${url}/v1/addon-types`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
    });

    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://console.example.com');
    expect(allowed.headers.get('access-control-expose-headers')).toContain('ratelimit-remaining');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin');
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(refusedPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});
