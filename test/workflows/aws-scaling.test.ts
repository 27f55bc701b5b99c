import { RDSServiceException } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { ScalingService } from '#shared/services/scaling.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { type CallEnvironment, deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * scale-addon as deployed on an RDS (PostgreSQL) addon: the ASL with the stack's substitutions,
 * the AWS workflow function, RDS faked (ModifyDBInstance puts the instance in `modifying`, then
 * `available` with the change), DynamoDB real. Each change is one ModifyDBInstance with
 * ApplyImmediately, then the Describe loop; a refused modify fails the operation with RDS's words
 * and leaves the addon running on what it had.
 */

const PROJECT = 'proj-scale';
const { world, recorded, running, flushCalls } = awsWorkflowSuite(PROJECT, { namePrefix: 'scale' });

const scale = async (
  addon: AddonRecord,
  request: { plan?: string; storageGiB?: number; multiAz?: boolean },
) => {
  const service = new ScalingService({ store: world().store, workflows: world().workflows, target: 'aws' });
  const { operation } = await service.update(PROJECT, addon.id, request);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

const modifies = () => world().fake.inputsOf('rds', 'ModifyDBInstance');

describe('scale-addon on AWS (RDS)', () => {
  it('changes the plan: ModifyDBInstance with the class and its backup window, waits out `modifying`, records it', async () => {
    const addon = await running();
    const { operation, addon: after } = await scale(addon, { plan: 'medium' });

    expect(operation).toMatchObject({ type: 'scale', status: 'completed', error: null });
    expect(operation.message).toBe('Applied: plan nano → medium');
    expect(after).toMatchObject({ plan: 'medium', status: 'running', currentOperationId: null });
    expect(modifies()).toEqual([
      {
        DBInstanceIdentifier: addon.resourceId,
        DBInstanceClass: 'db.t4g.medium',
        BackupRetentionPeriod: 14,
        ApplyImmediately: true,
      },
    ]);
    // Looked up before the modify, then described through `modifying` until available.
    expect(world().fake.commands('rds')).toEqual([
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
    ]);
    flushCalls();
  });

  it('grows the storage and turns Multi-AZ on, each its own operation and modify', async () => {
    const addon = await running();
    const grown = await scale(addon, { storageGiB: 50 });
    expect(grown.operation.status).toBe('completed');
    expect(grown.addon).toMatchObject({ storageGiB: 50, plan: 'nano', multiAz: false });
    const multiAz = await scale(grown.addon, { multiAz: true });
    expect(multiAz.operation.status).toBe('completed');
    expect(multiAz.addon).toMatchObject({ storageGiB: 50, multiAz: true, status: 'running' });
    expect(modifies()).toEqual([
      { DBInstanceIdentifier: addon.resourceId, AllocatedStorage: 50, ApplyImmediately: true },
      { DBInstanceIdentifier: addon.resourceId, MultiAZ: true, ApplyImmediately: true },
    ]);
  });

  it('a refused modify fails the operation with a readable reason; the addon runs on its old plan', async () => {
    const addon = await running();
    world().fake.failNext.set('ModifyDBInstance', [
      new RDSServiceException({
        name: 'InvalidParameterCombination',
        $fault: 'client',
        $metadata: {},
        message:
          'RDS does not support creating a DB instance with the following combination: DBInstanceClass=db.m6g.large',
      }),
    ]);
    const { operation, addon: after } = await scale(addon, { plan: 'large' });

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /^plan nano → large failed: AWS rejected the request while modifying/,
    );
    expect(operation.error?.message).toContain('InvalidParameterCombination');
    expect(after).toMatchObject({ plan: 'nano', status: 'running', currentOperationId: null });
    // Nothing was changed: the instance still reports its old class.
    expect(world().fake.instances.get(addon.resourceId)?.settings.DBInstanceClass).toBe('db.t4g.micro');
  });
});

describe('the workflow function role', () => {
  it('allows every AWS action scale-addon sent, on the resources it sent them to', () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const env: CallEnvironment = {
      tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
      secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
    };
    expect(recorded.some((call) => call.command === 'ModifyDBInstance')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), recorded, env)).toEqual([]);
  });
});
