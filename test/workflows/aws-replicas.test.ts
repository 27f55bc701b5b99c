import { beforeEach, describe, expect, it } from 'vitest';
import { awsReplicaEngines } from '#shared/providers/aws/engines.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { ReplicasService } from '#shared/services/replicas.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { createRequest } from '../support/fixtures.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { FakeRdsReplicas } from './support/fake-rds-replicas.ts';

/**
 * update-replicas on RDS as deployed: the ASL with the stack's substitutions, the AWS workflow
 * function (RdsReplicas), RDS faked with read replicas (fake-rds-replicas.ts), DynamoDB real. A
 * change sends CreateDBInstanceReadReplica or DeleteDBInstance, waits through the Describe loop,
 * then publishes the replicas' endpoints in the Secrets Manager secret; a failed replica is
 * deleted again (compensation) and the operation fails with RDS's status. Deleting the addon
 * deletes its replicas before its instance (RDS would promote them).
 */

const PROJECT = 'proj-replicas-aws';
const { world, recorded, flushCalls, running, deleteAddon, expectAddonGone, secretOf, callEnvironment } =
  awsWorkflowSuite(PROJECT, { namePrefix: 'rr' });

let replicas: FakeRdsReplicas;
beforeEach(() => {
  replicas = new FakeRdsReplicas(world().fake);
  replicas.install();
});

const setReplicas = async (addon: AddonRecord, count: number) => {
  const service = new ReplicasService({
    store: world().store,
    engines: awsReplicaEngines,
    workflows: world().workflows,
    target: 'aws',
  });
  const { operation } = await service.update(PROJECT, addon.id, count);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

const hostOf = (id: string) => `${id}.abcdefghijkl.eu-west-1.rds.amazonaws.com`;

describe('update-replicas on AWS (RDS PostgreSQL)', () => {
  it('adds replicas: CreateDBInstanceReadReplica in the addon’s subnet and security group, waits until available, publishes them', async () => {
    const addon = await running();
    const primary = world().fake.instances.get(addon.resourceId);
    const { operation, addon: after } = await setReplicas(addon, 2);

    expect(operation).toMatchObject({
      type: 'update-replicas',
      status: 'completed',
      replicas: 2,
      error: null,
    });
    expect(after).toMatchObject({ replicas: 2, status: 'running', currentOperationId: null });
    const tags = [
      { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
      { Key: TAG_KEYS.project, Value: PROJECT },
      { Key: TAG_KEYS.addon, Value: addon.id },
    ];
    // Same class, subnet group and security group as the primary; no parameter group (inherited,
    // and refused for MySQL) and no KMS key (a same-Region replica uses the source's).
    expect(world().fake.inputsOf('rds', 'CreateDBInstanceReadReplica')).toEqual(
      [1, 2].map((n) => ({
        DBInstanceIdentifier: `${addon.resourceId}-replica-${n}`,
        SourceDBInstanceIdentifier: addon.resourceId,
        DBInstanceClass: 'db.t4g.micro',
        // The primary's subnet group: RDS addons live in the public DB subnets (docs/networking.md).
        DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
        VpcSecurityGroupIds: [primary?.groupId],
        PubliclyAccessible: false,
        MultiAZ: false,
        DeletionProtection: false,
        Tags: tags,
      })),
    );
    // The wait: each replica described until `available` (creating, creating, available).
    const replicaDescribes = world()
      .fake.inputsOf('rds', 'DescribeDBInstances')
      .filter((input) => String(input.DBInstanceIdentifier).endsWith('-replica-2'));
    expect(replicaDescribes.length).toBeGreaterThanOrEqual(3);
    const secret = secretOf(addon.id);
    expect(secret.replicas).toEqual(
      [1, 2].map((n) => {
        const host = hostOf(`${addon.resourceId}-replica-${n}`);
        return {
          host,
          port: 5432,
          uri: `postgresql://${secret.username}:${secret.password}@${host}:5432/${secret.database}?sslmode=require`,
        };
      }),
    );
    expect(secret.host).toBe(hostOf(addon.resourceId));
    flushCalls();

    // Scale-down: the highest number goes, without a final snapshot; the secret follows.
    const down = await setReplicas(after, 1);
    expect(down.operation.status).toBe('completed');
    expect(down.addon.replicas).toBe(1);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      {
        DBInstanceIdentifier: `${addon.resourceId}-replica-2`,
        SkipFinalSnapshot: true,
        DeleteAutomatedBackups: false,
      },
    ]);
    expect(world().fake.inputsOf('rds', 'CreateDBInstanceReadReplica')).toEqual([]);
    expect(world().fake.instances.has(`${addon.resourceId}-replica-2`)).toBe(false);
    expect(secretOf(addon.id).replicas.map((replica: { host: string }) => replica.host)).toEqual([
      hostOf(`${addon.resourceId}-replica-1`),
    ]);
  });

  it('a replica RDS cannot make fails the operation with its status; the compensation deletes it and the addon runs as before', async () => {
    const addon = await running();
    const one = await setReplicas(addon, 1);
    expect(one.operation.status).toBe('completed');
    const before = secretOf(addon.id);
    flushCalls();
    replicas.replicaScript = ['creating', 'incompatible-parameters'];

    const { operation, addon: after } = await setReplicas(one.addon, 2);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toContain(
      `RDS reports instance ${addon.resourceId}-replica-2 as incompatible-parameters`,
    );
    expect(after).toMatchObject({ replicas: 1, status: 'running', currentOperationId: null });
    // Back to one replica: the half-made one deleted, the first kept.
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      {
        DBInstanceIdentifier: `${addon.resourceId}-replica-2`,
        SkipFinalSnapshot: true,
        DeleteAutomatedBackups: false,
      },
    ]);
    expect(world().fake.instances.get(`${addon.resourceId}-replica-2`)?.deletingDescribes).toBeDefined();
    expect(world().fake.instances.has(`${addon.resourceId}-replica-1`)).toBe(true);
    // The published details are those of before.
    expect(secretOf(addon.id)).toEqual(before);
  });

  it('a create with replicas is a 422 on AWS: RDS replicas are added by a PATCH once the addon runs', async () => {
    const refused = await world()
      .service.create(PROJECT, createRequest({ name: 'rr-create', replicas: 1 }))
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({
      name: 'UnsupportedError',
      issues: [expect.objectContaining({ path: 'body.replicas' })],
    });
    expect(world().fake.calls).toEqual([]);
  });

  it('deleting an addon with replicas deletes them first, then its instance once they are gone', async () => {
    const addon = await running();
    expect((await setReplicas(addon, 2)).operation.status).toBe('completed');
    flushCalls();

    const operation = await deleteAddon(addon.id);

    expect(operation.status).toBe('completed');
    const deleted = world()
      .fake.inputsOf('rds', 'DeleteDBInstance')
      .map((input) => input.DBInstanceIdentifier);
    expect(deleted).toEqual([
      `${addon.resourceId}-replica-1`,
      `${addon.resourceId}-replica-2`,
      addon.resourceId,
    ]);
    // The primary's delete came only after both replicas were gone (their last describe).
    const calls = world().fake.calls.filter((call) => call.service === 'rds');
    const primaryDelete = calls.findIndex(
      (call) => call.command === 'DeleteDBInstance' && call.input.DBInstanceIdentifier === addon.resourceId,
    );
    const lastReplicaDescribe = calls.findLastIndex(
      (call) =>
        call.command === 'DescribeDBInstances' &&
        String(call.input.DBInstanceIdentifier).startsWith(`${addon.resourceId}-replica-`),
    );
    expect(lastReplicaDescribe).toBeLessThan(primaryDelete);
    expect([...world().fake.instances.keys()].filter((id) => id.startsWith(addon.resourceId))).toEqual([]);
    await expectAddonGone(addon);
  });

  it('a restore of an addon with replicas fails at once, saying to remove them first', async () => {
    const addon = await running();
    expect((await setReplicas(addon, 1)).operation.status).toBe('completed');
    const { backup } = await world().backupService.create(PROJECT, addon.id, {
      type: 'snapshot',
      pinned: false,
    });
    await world().workflows.idle();
    flushCalls();

    const { operation } = await world().backupService.restore(PROJECT, addon.id, backup.id);
    await world().workflows.idle();

    const failed = await world().store.getOperation(PROJECT, operation.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toContain('set replicas to 0 first');
    expect(world().fake.commands('rds')).not.toContain('RestoreDBInstanceFromDBSnapshot');
    expect((await world().store.getAddon(PROJECT, addon.id)).status).toBe('running');
  });
});

describe('update-replicas on AWS (RDS MySQL)', () => {
  it('adds a MySQL replica with the same request (no parameter group: RDS refuses one for same-Region MySQL replicas)', async () => {
    const { addon } = await (async () => {
      const created = await world().service.create(
        PROJECT,
        createRequest({ engine: 'mysql', name: 'rr-mysql' }),
      );
      await world().workflows.idle();
      return { addon: await world().store.getAddon(PROJECT, created.addon.id) };
    })();
    expect(addon.status).toBe('running');
    flushCalls();

    const { operation } = await setReplicas(addon, 1);

    expect(operation.status).toBe('completed');
    const [created] = world().fake.inputsOf('rds', 'CreateDBInstanceReadReplica');
    expect(created).toMatchObject({
      DBInstanceIdentifier: `${addon.resourceId}-replica-1`,
      SourceDBInstanceIdentifier: addon.resourceId,
    });
    expect(created).not.toHaveProperty('DBParameterGroupName');
    expect(created).not.toHaveProperty('KmsKeyId');
    expect(secretOf(addon.id).replicas[0].uri).toMatch(/^mysql:\/\/.+-replica-1\.abcdefghijkl.+:3306\//);
  });
});

describe('the workflow function role', () => {
  it('allows every AWS action update-replicas and the delete sent, on the resources it sent them to', () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    expect(recorded.some((call) => call.command === 'CreateDBInstanceReadReplica')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), recorded, callEnvironment())).toEqual([]);
  });
});
