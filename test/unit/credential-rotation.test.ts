import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialsHandler } from '#functions/api/credentials.ts';
import { routes } from '#shared/api/routes.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import type { EngineAdapters, EngineProvider, Login } from '#shared/ports/engine-provider.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import { connectionUri } from '#shared/services/credentials.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { newId } from '#shared/util/ids.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord, operation } from '../support/fixtures.ts';

/**
 * The rotation service through the credentials function, with a provider that records what the
 * engine would be asked and which logins it lets in: the order of the steps (the new login is in
 * before it is published), the addon's rotation record, finish and the deadline sweep, the 409s
 * and the 422 where the catalog says the engine cannot rotate.
 */

const PROJECT = 'proj-rotation';
const logger = new Logger({ logLevel: 'SILENT' });

/** An engine that keeps a set of `user:password` logins, alternating users like PostgreSQL. */
class FakeLogins implements Pick<EngineProvider, 'addLogin' | 'retainOnlyLogin'> {
  logins = new Set<string>();
  calls: string[] = [];
  failAdd = false;

  async addLogin(_resourceId: string, { username: current }: Login, password: string): Promise<string> {
    this.calls.push(`add ${current}`);
    if (this.failAdd) throw new Error('engine down');
    const next = current.endsWith('_2') ? current.slice(0, -2) : `${current}_2`;
    for (const login of this.logins) if (login.startsWith(`${next}:`)) this.logins.delete(login);
    this.logins.add(`${next}:${password}`);
    return next;
  }

  async retainOnlyLogin(_resourceId: string, login: { username: string; password: string }): Promise<void> {
    this.calls.push(`retain ${login.username}`);
    this.logins = new Set([`${login.username}:${login.password}`]);
  }
}

let env: Awaited<ReturnType<typeof startTestStore>>;
let secretsDir: string;
let secrets: FileSecretStore;
let engine: FakeLogins;
let clock: Date;
let service: CredentialRotationService;
let handler: ReturnType<typeof createCredentialsHandler>;

beforeAll(async () => {
  env = await startTestStore();
  secretsDir = await mkdtemp(join(tmpdir(), 'rotation-secrets-'));
  secrets = new FileSecretStore(secretsDir);
});
afterAll(async () => {
  await env.stop();
  await rm(secretsDir, { recursive: true, force: true });
});

const serviceFor = (target: 'local' | 'aws') =>
  new CredentialRotationService({
    store: env.store,
    secrets,
    engines: EngineRegistry.everyEngine<EngineAdapters>('test engine', () => ({
      provider: engine as unknown as EngineProvider,
      snapshots: {} as never,
    })),
    target,
    now: () => clock,
  });

beforeEach(() => {
  engine = new FakeLogins();
  clock = new Date('2026-12-01T10:00:00Z');
  service = serviceFor('local');
  handler = createCredentialsHandler({ logger, store: env.store, secrets, rotation: service });
});

/** A running addon whose published login is `addonadmin` with password `old-password`. */
const runningAddon = async (overrides: Partial<AddonRecord> = {}) => {
  const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-8)}`, ...overrides });
  const op = operation({ addonId: addon.id, projectId: PROJECT });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(
    addon,
    op.id,
    { status: 'running', endpoint: { host: '127.0.0.1', port: 5432 } },
    { release: true },
  );
  const secret = {
    engine: addon.engine,
    host: '127.0.0.1',
    port: 5432,
    database: 'orders',
    username: 'addonadmin',
    password: 'old-password',
    tls: false,
  };
  await secrets.put({ projectId: PROJECT, addonId: addon.id }, { ...secret, uri: connectionUri(secret) });
  engine.logins.add('addonadmin:old-password');
  return env.store.getAddon(PROJECT, addon.id);
};

const call = (route: 'rotateCredentials' | 'finishCredentialRotation', addonId: string, body?: unknown) =>
  handler(apiEvent(routes[route], { pathParameters: { projectId: PROJECT, addonId }, body }), context());
const published = async (addonId: string) => secrets.get({ projectId: PROJECT, addonId });
const works = (login: { username: string; password: string } | undefined) =>
  login !== undefined && engine.logins.has(`${login.username}:${login.password}`);

describe('credential rotation', () => {
  it('publishes a new login that works while the previous one still does, then finish retires the previous', async () => {
    const addon = await runningAddon();
    const rotated = await call('rotateCredentials', addon.id, { retireAfterSeconds: 3600 });
    expect(rotated.statusCode).toBe(200);
    const body = json(rotated);
    expect(body.credentials.username).toBe('addonadmin_2');
    expect(body.credentials.uri).toContain(`addonadmin_2:${body.credentials.password}@`);
    expect(body.operation).toMatchObject({ type: 'rotate-credentials', status: 'completed' });
    expect(body.addon.credentialRotation).toEqual({
      previousUsername: 'addonadmin',
      rotatedAt: '2026-12-01T10:00:00.000Z',
      deadline: '2026-12-01T11:00:00.000Z',
    });
    expect(body.addon.currentOperationId).toBeNull();
    expect(await published(addon.id)).toEqual(body.credentials);
    expect(works({ username: 'addonadmin', password: 'old-password' })).toBe(true);
    expect(works(body.credentials)).toBe(true);

    const again = await call('rotateCredentials', addon.id, {});
    expect(again.statusCode).toBe(409);

    const finished = await call('finishCredentialRotation', addon.id);
    expect(finished.statusCode).toBe(200);
    expect(json(finished).addon.credentialRotation).toBeNull();
    expect(json(finished).credentials).toEqual(body.credentials);
    expect(engine.logins).toEqual(new Set([`addonadmin_2:${body.credentials.password}`]));
    expect(engine.calls).toEqual(['add addonadmin', 'retain addonadmin_2']);

    expect((await call('finishCredentialRotation', addon.id)).statusCode).toBe(409);
  });

  it('defaults the deadline to 24 hours, and the sweep retires the previous login once it has passed', async () => {
    const addon = await runningAddon();
    const body = json(await call('rotateCredentials', addon.id));
    expect(body.addon.credentialRotation.deadline).toBe('2026-12-02T10:00:00.000Z');
    clock = new Date('2026-12-02T09:59:59Z');
    expect(await service.sweep()).not.toContain(addon.id);
    expect(works({ username: 'addonadmin', password: 'old-password' })).toBe(true);
    clock = new Date('2026-12-02T10:00:01Z');
    expect(await service.sweep()).toContain(addon.id);
    expect(works({ username: 'addonadmin', password: 'old-password' })).toBe(false);
    expect(works(await published(addon.id))).toBe(true);
    expect((await env.store.getAddon(PROJECT, addon.id)).credentialRotation).toBeNull();
  });

  it('refuses with a 409 while another operation holds the addon, and changes nothing', async () => {
    const addon = await runningAddon();
    const backup = operation({ addonId: addon.id, projectId: PROJECT, type: 'backup' });
    await env.store.beginOperation(addon, backup, 'backing-up');
    const refused = await call('rotateCredentials', addon.id);
    expect(refused.statusCode).toBe(409);
    expect(json(refused).detail).toContain(backup.id);
    expect(engine.calls).toEqual([]);
    expect((await published(addon.id))?.password).toBe('old-password');
  });

  it('keeps the published credentials when the engine fails, and the rotation it recorded is retired at its deadline', async () => {
    const addon = await runningAddon();
    engine.failAdd = true;
    expect((await call('rotateCredentials', addon.id, { retireAfterSeconds: 60 })).statusCode).toBe(500);
    const after = await env.store.getAddon(PROJECT, addon.id);
    expect(after.currentOperationId).toBeNull();
    expect(after.status).toBe('running');
    expect((await published(addon.id))?.password).toBe('old-password');
    clock = new Date('2026-12-01T10:01:01Z');
    expect(await service.sweep()).toContain(addon.id);
    expect(engine.calls.at(-1)).toBe('retain addonadmin');
    expect(works({ username: 'addonadmin', password: 'old-password' })).toBe(true);
  });

  it('answers 422 naming the engine where the catalog says it cannot rotate (AWS), and where no service is wired', async () => {
    // MySQL on RDS: its second account would need the master user's grants copied (catalog notes).
    const addon = await runningAddon({ engine: 'mysql' });
    const aws = createCredentialsHandler({ logger, store: env.store, secrets, rotation: serviceFor('aws') });
    const refused = await aws(
      apiEvent(routes.rotateCredentials, { pathParameters: { projectId: PROJECT, addonId: addon.id } }),
      context(),
    );
    expect(refused.statusCode).toBe(422);
    expect(json(refused).errors).toEqual([{ path: 'engine', message: expect.stringContaining('mysql') }]);
    const bare = createCredentialsHandler({ logger, store: env.store, secrets });
    const unwired = await bare(
      apiEvent(routes.rotateCredentials, { pathParameters: { projectId: PROJECT, addonId: addon.id } }),
      context(),
    );
    expect(unwired.statusCode).toBe(422);
    expect(engine.calls).toEqual([]);
  });

  it('refuses a deadline outside its bounds with a 400 naming the field', async () => {
    const addon = await runningAddon();
    const refused = await call('rotateCredentials', addon.id, { retireAfterSeconds: 0 });
    expect(refused.statusCode).toBe(400);
    expect(JSON.stringify(json(refused).errors)).toContain('retireAfterSeconds');
  });
});

describe('credential rotation carried by the rotate-credentials workflow (AWS)', () => {
  const started: unknown[] = [];
  const workflowService = (start: (run: unknown) => Promise<void>) => {
    started.length = 0;
    const aws = new CredentialRotationService({
      store: env.store,
      secrets,
      target: 'aws',
      workflows: {
        start: async (run) => {
          started.push(run);
          await start(run);
        },
        stop: async () => {},
      },
      now: () => clock,
    });
    return createCredentialsHandler({ logger, store: env.store, secrets, rotation: aws });
  };
  const callWith = (
    awsHandler: ReturnType<typeof createCredentialsHandler>,
    route: 'rotateCredentials' | 'finishCredentialRotation',
    addonId: string,
  ) =>
    awsHandler(
      apiEvent(routes[route], { pathParameters: { projectId: PROJECT, addonId }, body: {} }),
      context(),
    );

  it('answers 202 with the rotation recorded and the operation to poll, having started the workflow; nothing published yet', async () => {
    const addon = await runningAddon({ engine: 'redis' });
    const response = await callWith(
      workflowService(async () => {}),
      'rotateCredentials',
      addon.id,
    );
    expect(response.statusCode).toBe(202);
    const body = json(response) as { addon: AddonRecord; operation: { id: string; rotation: string } };
    expect(body).not.toHaveProperty('credentials');
    expect(response.headers?.['operation-location']).toBe(
      `/v1/projects/${PROJECT}/operations/${body.operation.id}`,
    );
    expect(body.operation.rotation).toBe('rotate');
    expect(body.addon.credentialRotation).toMatchObject({ previousUsername: 'addonadmin' });
    expect(started).toEqual([
      {
        workflow: 'rotate-credentials',
        input: { projectId: PROJECT, addonId: addon.id, operationId: body.operation.id, phase: 'rotate' },
      },
    ]);
    expect((await published(addon.id))?.password).toBe('old-password');
    expect(engine.calls).toEqual([]);
  });

  it('a workflow that does not start fails the operation and leaves the addon unlocked without a rotation', async () => {
    const addon = await runningAddon({ engine: 'redis' });
    const response = await callWith(
      workflowService(async () => {
        throw new Error('Step Functions is unreachable');
      }),
      'rotateCredentials',
      addon.id,
    );
    expect(response.statusCode).toBeGreaterThanOrEqual(500);
    const record = await env.store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null, credentialRotation: null });
    const { items } = await env.store.listOperations(PROJECT, addon.id, { limit: 10 });
    expect(items.find((item) => item.type === 'rotate-credentials')).toMatchObject({
      status: 'failed',
      error: { code: 'WorkflowStartFailed', message: expect.stringMatching(/could not start/) },
    });
  });

  it('422 for an engine the catalog says cannot rotate on AWS, 409 for finish without a rotation; no workflow either way', async () => {
    const mysql = await runningAddon({ engine: 'mysql' });
    const awsHandler = workflowService(async () => {});
    const refused = await callWith(awsHandler, 'rotateCredentials', mysql.id);
    expect(refused.statusCode).toBe(422);
    const redis = await runningAddon({ engine: 'redis' });
    expect((await callWith(awsHandler, 'finishCredentialRotation', redis.id)).statusCode).toBe(409);
    expect(started).toEqual([]);
  });
});
