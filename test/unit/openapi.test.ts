import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import * as zm from 'zod/mini';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import type { RouteDef } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';

const document = buildOpenApiDocument();

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(document)));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is current: the committed openapi.json equals what the code generates (npm run openapi)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('documents every visible route with bearer auth exactly where the route table requires it', () => {
    for (const route of allRoutes as readonly RouteDef[]) {
      const operation = (
        document.paths?.[route.path] as Record<string, { operationId: string; security: unknown[] }>
      )?.[route.method];
      if (route.hidden) {
        expect(operation).toBeUndefined();
        continue;
      }
      expect(operation?.operationId).toBe(route.operationId);
      // `{}` is the empty requirement: anyone may call the public routes, with or without a token.
      expect(operation?.security).toEqual(route.auth ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }]);
    }
  });
});

describe('OpenAPI document of zod/mini schemas (core types only)', () => {
  const Widget = zm
    .object({
      id: zm.string().check(zm.maxLength(80)),
      size: zm.nullable(zm.int().check(zm.minimum(0), zm.maximum(10))),
      shape: zm.enum(['round', 'square']),
    })
    .register(zm.globalRegistry, { id: 'MiniWidget', description: 'A widget' });
  const CreateWidget = zm
    .strictObject({
      name: zm.string().check(zm.minLength(1), zm.maxLength(40), zm.regex(/^[a-z]+$/)),
      count: zm._default(zm.int().check(zm.minimum(1), zm.maximum(5)), 1),
    })
    .register(zm.globalRegistry, { id: 'MiniCreateWidget' });
  const route: RouteDef = {
    operationId: 'createMiniWidget',
    method: 'post',
    path: '/v1/projects/{projectId}/mini-widgets',
    summary: 'Create a widget',
    tags: ['meta'],
    fn: 'meta',
    auth: true,
    params: zm.object({
      projectId: zm
        .string()
        .check(zm.maxLength(63))
        .register(zm.globalRegistry, { description: 'The project' }),
    }),
    query: zm.object({
      dryRun: zm.optional(zm.boolean()),
      limit: zm._default(zm.coerce.number().check(zm.int(), zm.minimum(1), zm.maximum(100)), 20),
    }),
    body: CreateWidget,
    responses: { 201: { description: 'The widget', schema: Widget } },
  };
  const mini = buildOpenApiDocument([route]);
  const operation = mini.paths[route.path]?.post;

  it('makes each registered id a component, referred to by $ref from the body and the response', () => {
    expect(operation?.requestBody).toEqual({
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/MiniCreateWidget' } } },
    });
    expect(operation?.responses[201]?.content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/MiniWidget' } },
    });
    expect(Object.keys(mini.components.schemas).sort()).toEqual([
      'MiniCreateWidget',
      'MiniWidget',
      'Problem',
    ]);
  });

  it('converts the body as an input (a default is optional) and the response as an output', () => {
    expect(mini.components.schemas.MiniCreateWidget).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 40, pattern: '^[a-z]+$' },
        count: { type: 'integer', minimum: 1, maximum: 5, default: 1 },
      },
      required: ['name'],
      additionalProperties: false,
    });
    expect(mini.components.schemas.MiniWidget).toEqual({
      type: 'object',
      properties: {
        id: { type: 'string', maxLength: 80 },
        size: { type: ['integer', 'null'], minimum: 0, maximum: 10 },
        shape: { type: 'string', enum: ['round', 'square'] },
      },
      required: ['id', 'size', 'shape'],
      description: 'A widget',
    });
  });

  it('makes path and query parameters of the object schemas, required unless optional or defaulted', () => {
    expect(operation?.parameters).toEqual([
      {
        schema: { type: 'string', maxLength: 63, description: 'The project' },
        required: true,
        description: 'The project',
        name: 'projectId',
        in: 'path',
      },
      { schema: { type: 'boolean' }, required: false, name: 'dryRun', in: 'query' },
      {
        schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
        required: false,
        name: 'limit',
        in: 'query',
      },
    ]);
  });

  it("keeps the document's forms: nullable $ref, date-time without zod's pattern, literal enum, discriminator", () => {
    const Hourly = zm
      .strictObject({ every: zm.literal('hour') })
      .register(zm.globalRegistry, { id: 'MiniHourly' });
    const Daily = zm
      .strictObject({ every: zm.literal('day'), at: zm.iso.datetime() })
      .register(zm.globalRegistry, { id: 'MiniDaily' });
    const Schedule = zm.object({
      timing: zm.discriminatedUnion('every', [Hourly, Daily]),
      last: zm.nullable(Daily),
    });
    const document = buildOpenApiDocument([
      { ...route, responses: { 200: { description: 'A schedule', schema: Schedule } } },
    ]);
    expect(document.components.schemas.MiniDaily?.properties).toEqual({
      every: { type: 'string', enum: ['day'] },
      at: { type: 'string', format: 'date-time' },
    });
    const converted = document.paths[route.path]?.post?.responses[200]?.content?.['application/json']?.schema;
    expect(converted).toEqual({
      type: 'object',
      properties: {
        timing: {
          oneOf: [{ $ref: '#/components/schemas/MiniHourly' }, { $ref: '#/components/schemas/MiniDaily' }],
          discriminator: {
            propertyName: 'every',
            mapping: { hour: '#/components/schemas/MiniHourly', day: '#/components/schemas/MiniDaily' },
          },
        },
        last: { anyOf: [{ $ref: '#/components/schemas/MiniDaily' }, { type: 'null' }] },
      },
      required: ['timing', 'last'],
    });
  });
});
