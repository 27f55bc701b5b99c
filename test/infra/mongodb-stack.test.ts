import { beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '#shared/catalog/engines.ts';
import { parseEnv, WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { isAllowed, roleStatements } from './support/iam.ts';
import { FAKE_ENV, functionEnvironment } from './support/intrinsics.ts';
import {
  resourcesOfType,
  SYNTH_TIMEOUT_MS,
  type SynthesizedStack,
  synthesizeAddons,
} from './support/stack.ts';

/**
 * The MongoDB (Amazon DocumentDB) share of the stack: its cluster parameter groups, what the
 * workflow function is told about them, the dump job's CA variable, and the DocumentDB calls the
 * workflow role may make, on this deployment's clusters and cluster snapshots only.
 */

let synthesized: SynthesizedStack;
beforeAll(() => {
  synthesized = synthesizeAddons();
}, SYNTH_TIMEOUT_MS);

const arn = (service: string, resource: string) =>
  `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;
const deployment = () => synthesized.stack.deploymentName;
const workflowEnv = () =>
  parseEnv(
    WorkflowFunctionEnvSchema,
    functionEnvironment(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.workflows.taskFunction.function),
    ),
  );
const allowedFor =
  (role: { node: { defaultChild?: unknown } }) =>
  (action: string, resource: string, context: Record<string, string | string[]> = {}) =>
    isAllowed(roleStatements(synthesized.json, logicalIdOf(synthesized, role)), {
      action,
      resource,
      context,
      because: 'test',
    });
const tagging = (value: string, keys = ['addons:deployment', 'addons:project']) => ({
  'aws:RequestTag/addons:deployment': value,
  'aws:TagKeys': keys,
});

describe('MongoDB addons in the stack', () => {
  it('creates, per catalog version, a DocumentDB cluster parameter group with tls enabled (and none without), and names it to the workflow function', () => {
    const groups = resourcesOfType(synthesized.json, 'AWS::DocDB::DBClusterParameterGroup');
    const versions = ENGINES.mongodb.versions.aws;
    expect(versions).toEqual(['5.0']);
    const withTls = (value: string) =>
      groups
        .filter(
          ([, group]) => (group.Properties?.Parameters as Record<string, string> | undefined)?.tls === value,
        )
        .map(([id, group]) => ({ id, family: group.Properties?.Family }));
    expect(withTls('enabled')).toEqual([{ id: expect.any(String), family: 'docdb5.0' }]);
    expect(withTls('disabled')).toEqual([]);
    expect(groups).toHaveLength(versions.length);

    const env = workflowEnv();
    // Ref of a parameter group resolves to its logical id in these tests.
    expect(env.TLS_PARAMETER_GROUPS.mongodb).toEqual({ '5.0': withTls('enabled')[0]?.id });
    expect(env.NO_TLS_PARAMETER_GROUPS.mongodb).toBeUndefined();
    // No DocumentDB subnet group of its own: clusters take the RDS DB subnet group.
    expect(resourcesOfType(synthesized.json, 'AWS::DocDB::DBSubnetGroup')).toEqual([]);
  });

  it('tells the dump job where the CA bundle that verifies DocumentDB is (the RDS global bundle)', () => {
    const [[, task] = []] = resourcesOfType(synthesized.json, 'AWS::ECS::TaskDefinition');
    const containers = (task?.Properties?.ContainerDefinitions ?? []) as Array<{
      Environment: Array<{ Name: string; Value: string }>;
    }>;
    const [container] = containers;
    expect(container?.Environment).toContainEqual({
      Name: 'ADDONS_MONGODB_TLS_CA_FILE',
      Value: '/etc/ssl/certs/rds-global-bundle.pem',
    });
  });

  it("lets the workflow create, restore, change and delete this deployment's clusters only", () => {
    const allowed = allowedFor(synthesized.stack.workflows.taskFunction.role);
    const cluster = arn('rds', 'cluster:addon-x');
    const env = workflowEnv();
    const ourGroups = [env.TLS_PARAMETER_GROUPS.mongodb?.['5.0']];
    for (const action of ['rds:CreateDBCluster', 'rds:RestoreDBClusterFromSnapshot']) {
      expect(allowed(action, cluster, tagging(deployment())), action).toBe(true);
      expect(allowed(action, cluster), `${action} untagged`).toBe(false);
      expect(allowed(action, cluster, tagging('AnotherStack')), action).toBe(false);
      expect(allowed(action, cluster, tagging(deployment(), ['addons:deployment', 'owner'])), action).toBe(
        false,
      );
      for (const group of ourGroups)
        expect(allowed(action, arn('rds', `cluster-pg:${group}`)), action).toBe(true);
      // Not DocumentDB's default group, which the platform does not manage.
      expect(allowed(action, arn('rds', 'cluster-pg:default.docdb5.0')), action).toBe(false);
    }
    const ours = { 'rds:cluster-tag/addons:deployment': deployment() };
    const theirs = { 'rds:cluster-tag/addons:deployment': 'AnotherStack' };
    for (const action of [
      'rds:ModifyDBCluster',
      'rds:DeleteDBCluster',
      'rds:CreateDBClusterSnapshot',
      'rds:CreateDBInstance',
    ]) {
      expect(allowed(action, cluster, ours), action).toBe(true);
      expect(allowed(action, cluster, theirs), action).toBe(false);
      expect(allowed(action, cluster), action).toBe(false);
    }
    expect(allowed('rds:ModifyDBCluster', arn('rds', 'cluster:other-db'), ours)).toBe(false);
    // Retagging another deployment's cluster as ours, to take it over, is refused.
    expect(allowed('rds:AddTagsToResource', cluster, { ...tagging(deployment()), ...theirs })).toBe(false);
  });

  it("lets the workflow, the backups API and the sweep delete this deployment's cluster snapshots only", () => {
    const snapshot = arn('rds', 'cluster-snapshot:addon-x-bkp-1');
    const ours = { 'rds:cluster-snapshot-tag/addons:deployment': deployment() };
    const theirs = { 'rds:cluster-snapshot-tag/addons:deployment': 'AnotherStack' };
    const { stack } = synthesized;
    for (const role of [
      stack.workflows.taskFunction.role,
      stack.api.functions.backups?.role,
      stack.schedules.sweep.role,
    ]) {
      if (!role) throw new Error('the backups function is part of the stack');
      const allowed = allowedFor(role);
      expect(allowed('rds:DeleteDBClusterSnapshot', snapshot, ours)).toBe(true);
      expect(allowed('rds:DeleteDBClusterSnapshot', snapshot, theirs)).toBe(false);
    }
    const allowed = allowedFor(stack.workflows.taskFunction.role);
    expect(allowed('rds:CreateDBClusterSnapshot', snapshot, tagging(deployment()))).toBe(true);
    expect(allowed('rds:CreateDBClusterSnapshot', snapshot, tagging('AnotherStack'))).toBe(false);
    expect(allowed('rds:RestoreDBClusterFromSnapshot', snapshot, { ...ours, ...tagging(deployment()) })).toBe(
      true,
    );
    expect(
      allowed('rds:RestoreDBClusterFromSnapshot', snapshot, { ...theirs, ...tagging(deployment()) }),
    ).toBe(false);
  });
});
