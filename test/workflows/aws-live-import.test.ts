import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '#infra/local/emulators.ts';
import { liveImportSecrets } from '#shared/providers/aws/live-import-secrets.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { ImportService } from '#shared/services/import-service.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { snapshotDeleters } from '../support/backups.ts';
import { createRequest } from '../support/fixtures.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * A live import as deployed on AWS: the API side (ImportService as the backups function composes
 * it) puts the connection string in Secrets Manager; the restore-addon ASL with the stack's
 * substitutions runs the workflow function, which starts the Fargate job with only the secret's
 * reference, in the live-import subnets and group (the only ones with a route out), beside the
 * addon's project client group; the secret is deleted once the import completed or failed. The
 * password appears in no AWS call but the secret's own, no job parameter and no record.
 */
const PROJECT = 'proj-live';
const PASSWORD = 'Src-Pa55word-7731';
const CONNECTION = `postgresql://shop:${PASSWORD}@db.example.com:5432/shop`;

const { world, recorded, running, secretName } = awsWorkflowSuite(PROJECT, { namePrefix: 'live' });

class TaskFailed extends Error {
  override name = 'States.TaskFailed';
}

const importService = () =>
  new ImportService({
    store: world().store,
    imports: world().importStore,
    uploads: new ImportUploads({
      client: new S3Client({ ...LOCAL_AWS, region: 'eu-west-1' }),
      bucket: world().env.BACKUP_BUCKET,
    }),
    workflows: world().workflows,
    snapshotDeleters: snapshotDeleters({ deleteSnapshot: () => Promise.reject(new Error('not here')) }),
    target: 'aws',
    secrets: liveImportSecrets(
      world().env,
      () => new SecretsManagerClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
    ),
  });

/** Create and start a live import; returns its id and, once the workflow is idle, what it left. */
const runLiveImport = async (addon: AddonRecord) => {
  const service = importService();
  const created = await service.create(PROJECT, addon.id, { kind: 'live', connectionString: CONNECTION });
  const importId = created.import.id;
  const secretId = secretName(importId);
  expect(JSON.parse(String(world().fake.secrets.get(secretId)))).toMatchObject({
    host: 'db.example.com',
    port: 5432,
    password: PASSWORD,
  });
  const { operation } = await service.start(PROJECT, addon.id, importId, {});
  await world().workflows.idle();
  return {
    importId,
    secretId,
    operation: await world().store.getOperation(PROJECT, operation.id),
    record: await world().importStore.getImport(PROJECT, importId),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

/** An addon created with `source.import` (live), as the addons function composes the service. */
const createFromLiveImport = async (name: string) => {
  const service = new AddonService({
    store: world().store,
    workflows: world().workflows,
    target: 'aws',
    imports: {
      imports: importService(),
      records: world().importStore,
      secrets: liveImportSecrets(
        world().env,
        () => new SecretsManagerClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
      ),
    },
  });
  const created = await service.create(
    PROJECT,
    createRequest({ name, source: { import: { kind: 'live', connectionString: CONNECTION } } }),
  );
  const importId = created.operation.importId as string;
  await world().workflows.idle();
  return {
    secretId: secretName(importId),
    addon: await world().store.getAddon(PROJECT, created.addon.id),
    operation: await world().store.getOperation(PROJECT, created.operation.id),
    record: await world().importStore.getImport(PROJECT, importId),
  };
};

describe('live imports on AWS', () => {
  it('runs the job with the secret reference only, in the live-import subnets and group, then deletes the secret', async () => {
    const addon = await running();
    let secretDuringJob: string | undefined;
    world().jobs.behaviour = async (parameters) => {
      const spec = jobSpecOf(parameters);
      if (spec.kind !== 'live-import') throw new Error('not a live import');
      // What the job reads by the reference: the secret is there while it runs.
      secretDuringJob = world().fake.secrets.get(
        `${world().env.SECRET_NAME_PREFIX}${spec.sourceSecret.projectId}/${spec.sourceSecret.addonId}`,
      );
      return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
    };

    const { importId, secretId, operation, record, addon: after } = await runLiveImport(addon);

    expect(operation).toMatchObject({ status: 'completed', error: null, importId });
    expect(record).toMatchObject({ status: 'completed', kind: 'live', source: { host: 'db.example.com' } });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(secretDuringJob).toContain(PASSWORD);
    expect(world().fake.secrets.has(secretId)).toBe(false);

    const [parameters] = world().runTaskCalls;
    if (!parameters) throw new Error('no job was started');
    const spec = jobSpecOf(parameters);
    expect(spec).toEqual({
      kind: 'live-import',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: importId,
      engine: 'postgresql',
      sourceSecret: { projectId: PROJECT, addonId: importId },
    });
    const network = (parameters.NetworkConfiguration as { AwsvpcConfiguration: Record<string, unknown> })
      .AwsvpcConfiguration;
    const env = world().env;
    expect(env.LIVE_IMPORT_SUBNET_IDS?.length).toBeGreaterThanOrEqual(2);
    expect(network.Subnets).toEqual(env.LIVE_IMPORT_SUBNET_IDS);
    expect(network.SecurityGroups).toEqual([
      ...(env.LIVE_IMPORT_SECURITY_GROUP_IDS ?? []),
      addon.network?.clientSecurityGroupId,
    ]);
    for (const group of env.JOB_SECURITY_GROUP_IDS) expect(network.SecurityGroups).not.toContain(group);
    expect(network.AssignPublicIp).toBe('DISABLED');

    // The password: in the secret's own writes (the API's), nowhere else.
    const calls = [...recorded, ...world().fake.calls].filter(
      (call) =>
        !(call.service === 'secretsmanager' && ['CreateSecret', 'PutSecretValue'].includes(call.command)),
    );
    expect(JSON.stringify(calls)).not.toContain(PASSWORD);
    expect(JSON.stringify(world().runTaskCalls)).not.toContain(PASSWORD);
    expect(JSON.stringify({ operation, record })).not.toContain(PASSWORD);
  });

  it('fails the import when the job fails: the addon is released and the secret deleted; no retry', async () => {
    const addon = await running();
    world().jobs.behaviour = async () => {
      throw new TaskFailed('The source database at db.example.com:5432 is not reachable: ETIMEDOUT');
    };

    const { importId, secretId, operation, record, addon: after } = await runLiveImport(addon);

    expect(operation.status).toBe('failed');
    expect(record).toMatchObject({ status: 'failed', error: operation.error });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().fake.secrets.has(secretId)).toBe(false);
    expect(JSON.stringify({ operation, record })).not.toContain(PASSWORD);
    await expect(importService().start(PROJECT, addon.id, importId, {})).rejects.toThrow(
      /create a new import/,
    );
  });

  it('seeds an addon created with source.import (live) in its create operation, then deletes the secret', async () => {
    const { addon, operation, record, secretId } = await createFromLiveImport('seeded');
    expect(operation).toMatchObject({ type: 'create', status: 'completed', importId: record.id });
    expect(addon).toMatchObject({ status: 'running', source: { importId: record.id, kind: 'live' } });
    expect(record).toMatchObject({ status: 'completed', operationId: operation.id });
    expect(world().fake.secrets.has(secretId)).toBe(false);
    const [parameters] = world().runTaskCalls;
    if (!parameters) throw new Error('no job was started');
    expect(jobSpecOf(parameters)).toMatchObject({
      kind: 'live-import',
      addonId: addon.id,
      backupId: record.id,
    });
    const network = (parameters.NetworkConfiguration as { AwsvpcConfiguration: Record<string, unknown> })
      .AwsvpcConfiguration;
    expect(network.Subnets).toEqual(world().env.LIVE_IMPORT_SUBNET_IDS);
  });

  it('fails the create of an addon whose live source fails: instance deleted, import failed, secret gone', async () => {
    world().jobs.behaviour = async () => {
      throw new TaskFailed('The source database at db.example.com:5432 is not reachable: ETIMEDOUT');
    };
    const { addon, operation, record, secretId } = await createFromLiveImport('unseeded');
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toContain('db.example.com:5432');
    expect(addon).toMatchObject({ status: 'failed', endpoint: null, currentOperationId: null });
    expect(record).toMatchObject({ status: 'failed', error: operation.error });
    expect(world().fake.secrets.has(secretId)).toBe(false);
    expect([...recorded, ...world().fake.calls].some((call) => call.command === 'DeleteDBInstance')).toBe(
      true,
    );
    expect(JSON.stringify({ operation, record })).not.toContain(PASSWORD);
  });

  it('the workflow function role allows every call it sent (deleting the import secret included)', () => {
    const { json, stack } = world().synthesized;
    const statements = roleStatements(
      json,
      logicalIdOf(world().synthesized, stack.workflows.taskFunction.role),
    );
    const workflowCalls = recorded.filter(
      (call) =>
        !(call.service === 'secretsmanager' && ['CreateSecret', 'PutSecretValue'].includes(call.command)),
    );
    expect(workflowCalls.some((call) => call.command === 'DeleteSecret')).toBe(true);
    expect(
      deniedPermissions(statements, workflowCalls, {
        tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
        secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
      }),
    ).toEqual([]);
  });
});
