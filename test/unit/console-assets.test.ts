import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiLambda } from '#infra/local/gateway.ts';
import { LocalGateway } from '#infra/local/gateway.ts';
import { TokenBucketLimiter } from '#shared/api/rate-limit.ts';

/** The console's files at `/` and `/console/*` beside the API, on the local gateway. */
describe('local gateway: the web console', () => {
  let gateway: LocalGateway;
  let url = '';
  const dir = mkdtempSync(join(tmpdir(), 'console-dist-'));
  const calls: string[] = [];
  const lambda: ApiLambda = async (event) => {
    calls.push(event.rawPath);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  };

  beforeAll(async () => {
    mkdirSync(join(dir, 'console'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(dir, 'console', 'app-ABC.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'not served');
    gateway = new LocalGateway({
      rateLimiter: new TokenBucketLimiter({ perSecond: 1000, burst: 1000 }),
      handlers: {
        meta: lambda,
        catalog: lambda,
        addons: lambda,
        credentials: lambda,
        operations: lambda,
        backups: lambda,
      },
      token: 'gateway-token-0123456789',
      console: { dir },
    });
    url = await gateway.listen(0, '127.0.0.1');
  });
  afterAll(() => gateway.close());

  it('serves index.html at / with a CSP that allows only its own origin', async () => {
    const response = await fetch(`${url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.text()).toContain('<title>console</title>');
  });

  it('serves hashed bundles immutable, and the local config: same-origin API, token sign-in', async () => {
    const bundle = await fetch(`${url}/console/app-ABC.js`);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(bundle.headers.get('cache-control')).toContain('immutable');
    const config = await fetch(`${url}/console/config.json`);
    expect(await config.json()).toEqual({ apiUrl: '', signIn: { kind: 'token' } });
  });

  it('serves nothing outside its folder', async () => {
    for (const path of [
      '/console/../secret.txt',
      '/console/%2e%2e/secret.txt',
      '/console/missing.js',
      '/console/%E0%A4%A',
    ]) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(404);
    }
    expect(calls).toEqual([]);
  });

  it('leaves the API, /openapi.json and /docs to their routes', async () => {
    expect((await fetch(`${url}/openapi.json`)).status).toBe(200);
    expect((await fetch(`${url}/docs`)).status).toBe(200);
    expect((await fetch(`${url}/v1/addon-types`)).status).toBe(401);
    expect(calls).toEqual(['/openapi.json', '/docs']);
  });
});
