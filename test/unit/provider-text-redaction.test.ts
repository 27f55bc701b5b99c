import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetaHandler } from '#functions/api/meta.ts';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import { toProblem } from '#shared/api/problem.ts';
import { routes } from '#shared/api/routes.ts';
import { NotFoundError, ProviderError, ServiceUnavailableError } from '#shared/errors.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { CreateAddonRequestSchema } from '#shared/schemas/addon.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { failureReason, readableReason } from '#shared/services/workflow-tasks.ts';
import { redactProviderText } from '#shared/util/redact.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context } from '../support/events.ts';

const ACCOUNT = '123456789012';
const DENIED =
  `User: arn:aws:sts::${ACCOUNT}:assumed-role/Addons-Workflow/fn is not authorized to perform: ` +
  `rds:CreateDBInstance on resource: arn:aws:rds:eu-west-1:${ACCOUNT}:db:addon-adn-1`;
const HOST = 'addon-adn-1.c9akciq32.eu-west-1.rds.amazonaws.com';

/** Nothing a provider said about the account or its network survives. */
const expectClean = (text: string) => {
  expect(text).not.toMatch(/arn:aws/);
  expect(text).not.toContain(ACCOUNT);
  expect(text).not.toContain('amazonaws.com');
  expect(text).not.toMatch(/\.internal\b/);
  expect(text).not.toMatch(/\b10\.0\.\d+\.\d+\b/);
  expect(text).not.toMatch(/\bsg-[0-9a-f]{8,}/);
};

describe('redactProviderText', () => {
  it.each([
    ['an IAM denial', DENIED, 'is not authorized to perform: rds:CreateDBInstance'],
    ['an RDS endpoint', `could not connect to ${HOST}:5432`, 'could not connect to'],
    ['an EC2 hostname', 'ip-10-0-1-23.eu-west-1.compute.internal refused the connection', 'refused'],
    ['a private address', 'connect ETIMEDOUT 10.0.3.4:5432', 'ETIMEDOUT'],
    ['network ids', 'sg-0123456789abcdef0 is in use by vpc-0a1b2c3d', 'is in use by'],
    ['a bare account id', `account ${ACCOUNT} has reached its quota`, 'has reached its quota'],
  ])('removes %s and keeps the sentence', (_case, text, kept) => {
    const redacted = redactProviderText(text);
    expectClean(redacted);
    expect(redacted).toContain(kept);
  });

  it("keeps the platform's own ids and ordinary numbers", () => {
    const text =
      'Backup bkp-01jd0000000000000000000000 of adn-01jd0000000000000000000000 failed after 3 checks';
    expect(redactProviderText(text)).toBe(text);
  });

  it('cuts very long text', () => {
    expect(redactProviderText('x'.repeat(10_000)).length).toBeLessThanOrEqual(1000);
  });
});

describe('operation errors', () => {
  it('carry no provider internals, whatever a Catch caught', () => {
    const caught = {
      Error: 'ProviderError',
      Cause: JSON.stringify({ errorType: 'ProviderError', errorMessage: DENIED }),
    };
    const reason = readableReason(caught);
    expect(reason.code).toBe('ProviderError');
    expectClean(reason.message);
    const withCleanup = failureReason({
      error: caught,
      skipCleanup: true,
      cleanupError: { Error: 'TransientError', Cause: `timeout talking to ${HOST}` },
    });
    expectClean(withCleanup.message);
  });

  describe('of a workflow that could not start', () => {
    let env: Awaited<ReturnType<typeof startTestStore>>;
    beforeAll(async () => {
      env = await startTestStore();
    });
    afterAll(() => env.stop());

    it('are redacted on the operation and in the 503', async () => {
      const refusing: WorkflowStarter = {
        start: async () => {
          throw new Error(
            `ExecutionLimitExceeded: arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:Addons-Provision`,
          );
        },
        stop: async () => undefined,
      };
      const service = new AddonService({ store: env.store, workflows: refusing, target: 'local' });
      const error = await service
        .create('proj-redact', CreateAddonRequestSchema.parse({ name: 'db', engine: 'postgresql' }))
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      const problem = toProblem(error);
      expect(problem.status).toBe(503);
      expectClean(problem.detail ?? '');
      const [addon] = (await env.store.listAddons('proj-redact', { limit: 10 })).items;
      const [operation] = (await env.store.listOperations('proj-redact', addon?.id ?? '', { limit: 10 }))
        .items;
      expect(operation?.error?.message).toContain('could not be started');
      expectClean(operation?.error?.message ?? '');
    });
  });
});

describe('problem details', () => {
  it('redact what a named error carries', () => {
    const problem = toProblem(new NotFoundError(`No snapshot arn:aws:rds:eu-west-1:${ACCOUNT}:snapshot:s-1`));
    expect(problem.status).toBe(404);
    expectClean(problem.detail ?? '');
  });

  it('never echo the message of an unexpected error', () => {
    for (const error of [new Error(DENIED), new ProviderError(`${HOST} is down`), 'a thrown string']) {
      const problem = toProblem(error);
      if (problem.status !== 500) continue;
      expect(problem.detail).toBe('An unexpected error occurred; it has been logged');
    }
    expect(toProblem(new Error(DENIED)).status).toBe(500);
  });
});

describe('the docs page and the OpenAPI security text', () => {
  it('keeps the token out of browser storage', async () => {
    const handler = createMetaHandler({ logger: new Logger({ logLevel: 'SILENT' }), target: 'local' });
    const response = await handler(apiEvent(routes.getDocs, { projects: null }), context());
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('persistAuthorization: false');
    expect(response.body).not.toMatch(/localStorage|sessionStorage|persistAuthorization: true/);
  });

  it('names the token to send on each target', () => {
    const document = buildOpenApiDocument() as unknown as {
      components: { securitySchemes: { bearerAuth: { description: string } } };
    };
    const text = document.components.securitySchemes.bearerAuth.description;
    expect(text).toContain('ADDONS_TOKEN');
    expect(text).toContain('.addons/token');
    expect(text).toMatch(/ID token/);
    expect(text).toMatch(/not the access token/);
  });
});
