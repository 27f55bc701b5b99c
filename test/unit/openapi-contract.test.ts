import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkExchange } from '../support/contract.ts';

const PATH = '/v1/projects/acme/addons/adn-1/backup-schedules';
const AUTH = { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' };

/** The body from the report (issue 12): what the API accepts and answers 201 to, `type` included. */
const REPORTED_BODY = {
  interval: 'daily',
  hours: [3],
  minutes: [30],
  retentionDays: 14,
  type: 'dump',
  compression: 'zstd',
  enabled: true,
};

const schedule = {
  id: 'sch-1',
  projectId: 'acme',
  addonId: 'adn-1',
  interval: 'daily',
  days: null,
  hours: [3],
  minutes: [30],
  retentionDays: 14,
  type: 'dump',
  compression: 'zstd',
  enabled: true,
  lastRun: null,
  createdAt: '2026-12-01T03:00:00.000Z',
  updatedAt: '2026-12-01T03:00:00.000Z',
};

const json =
  (statusCode: number, body: unknown, type = 'application/json') =>
  async () => ({
    statusCode,
    headers: { 'content-type': type },
    body,
  });

const post = (body: unknown) => ({
  method: 'post' as const,
  url: { path: PATH },
  headers: { ...AUTH, 'content-length': String(JSON.stringify(body).length) },
  body,
});

describe('the contract check (Prism against openapi.json)', () => {
  it("accepts the reported create-schedule body with `type`, and the API's 201 schedule", async () => {
    const { mismatches } = await checkExchange({ request: post(REPORTED_BODY), send: json(201, schedule) });
    expect(mismatches).toEqual([]);
  });

  it('accepts each interval with the kind fields, and without them (they have defaults)', async () => {
    for (const body of [
      { interval: 'hourly', minutes: [0, 30], retentionDays: 7, type: 'snapshot', enabled: false },
      {
        interval: 'weekly',
        days: ['mon'],
        hours: [1],
        minutes: [0],
        retentionDays: 120,
        compression: 'gzip',
      },
      { interval: 'daily', hours: [1], minutes: [0], retentionDays: 1 },
    ]) {
      const { mismatches } = await checkExchange({ request: post(body), send: json(201, schedule) });
      expect(mismatches).toEqual([]);
    }
  });

  it('flags a body the document forbids when the API accepts it, naming the field and the schema', async () => {
    const { mismatches } = await checkExchange({
      request: post({ ...REPORTED_BODY, colour: 'blue' }),
      send: json(201, schedule),
    });
    expect(mismatches.join('\n')).toMatch(
      /POST \/v1\/projects\/\{projectId\}\/addons\/\{addonId\}\/backup-schedules/,
    );
    expect(mismatches.join('\n')).toMatch(/colour/);
    expect(mismatches.join('\n')).toMatch(/requestBody\/content\/application~1json\/schema/);
  });

  it('takes a forbidden body refused with a documented problem as consistent', async () => {
    const problem = {
      type: 'https://addons.dev/problems/validation',
      title: 'Invalid request',
      status: 400,
      detail: 'colour is not a field',
    };
    const { mismatches } = await checkExchange({
      request: post({ ...REPORTED_BODY, colour: 'blue' }),
      send: json(400, problem, 'application/problem+json'),
    });
    expect(mismatches).toEqual([]);
  });

  it('holds problem answers to the documented problem schema and media type for their status', async () => {
    const problem = {
      type: 'https://addons.dev/problems/validation',
      title: 'Invalid request',
      status: 400,
      detail: 'retentionDays is too large',
    };
    const refused = (body: unknown, type = 'application/problem+json') =>
      checkExchange({ request: post({ ...REPORTED_BODY, retentionDays: 999 }), send: json(400, body, type) });
    expect((await refused(problem)).mismatches).toEqual([]);
    const untitled = await refused({ ...problem, title: undefined });
    expect(untitled.mismatches.join('\n')).toMatch(/title/);
    const plainJson = await refused(problem, 'application/json');
    expect(plainJson.mismatches.join('\n')).toMatch(
      /is application\/json; openapi.json says application\/problem\+json/,
    );
    const teapot = await checkExchange({
      request: post(REPORTED_BODY),
      send: json(418, { ...problem, status: 418 }),
    });
    expect(teapot.mismatches.join('\n')).toMatch(/status code/);
  });

  it('flags an undocumented status, a wrong media type and a response field the schema lacks', async () => {
    const undocumented = await checkExchange({ request: post(REPORTED_BODY), send: json(200, schedule) });
    expect(undocumented.mismatches.join('\n')).toMatch(/status code/);
    const media = await checkExchange({
      request: post(REPORTED_BODY),
      send: json(201, schedule, 'text/plain'),
    });
    expect(media.mismatches.join('\n')).toMatch(/media type/);
    const extra = await checkExchange({
      request: post(REPORTED_BODY),
      send: json(201, { ...schedule, days: 'mon' }),
    });
    expect(extra.mismatches.join('\n')).toMatch(/days/);
    const undescribed = await checkExchange({
      request: post(REPORTED_BODY),
      send: json(201, { ...schedule, revision: 3 }),
    });
    expect(undescribed.mismatches.join('\n')).toMatch(/additional properties; found 'revision'/);
  });

  it('checks formats: a timestamp that is not RFC 3339 date-time is flagged', async () => {
    const { mismatches } = await checkExchange({
      request: post(REPORTED_BODY),
      send: json(201, { ...schedule, createdAt: '2026-12-01 03:00:00' }),
    });
    expect(mismatches.join('\n')).toMatch(/createdAt.*date-time/);
  });

  it('uses no JSON Schema keyword that Prism, reading 3.1 schemas as draft-07, would misread', () => {
    const found = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) walk(item);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      const record = node as Record<string, unknown>;
      for (const key of ['prefixItems', 'const', '$defs', 'dependentSchemas', 'unevaluatedProperties']) {
        if (key in record) found.add(key);
      }
      if ('$ref' in record && Object.keys(record).some((key) => key !== '$ref' && key !== 'description')) {
        found.add('$ref with siblings');
      }
      for (const value of Object.values(record)) walk(value);
    };
    walk(JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')));
    expect([...found]).toEqual([]);
  });
});
