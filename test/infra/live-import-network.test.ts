import { beforeAll, describe, expect, it } from 'vitest';
import { LIVE_IMPORT_PORTS } from '#infra/aws/constructs/network.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { roleStatements } from './support/iam.ts';
import { functionEnvironment } from './support/intrinsics.ts';
import {
  resourcesOfType,
  SYNTH_TIMEOUT_MS,
  type SynthesizedStack,
  synthesizeAddons,
} from './support/stack.ts';

/**
 * Live imports on AWS: their jobs are the only ones with a route out of the VPC (private subnets
 * behind one NAT gateway), in a group whose egress is HTTPS and the database ports only; every
 * other job stays in the isolated subnets. The API may touch live imports' secrets only.
 */
let synthesized: SynthesizedStack;
beforeAll(() => {
  synthesized = synthesizeAddons();
}, SYNTH_TIMEOUT_MS);

const refsOf = (value: unknown): string[] => JSON.stringify(value).match(/"Ref":"([^"]+)"/g) ?? [];

describe('live-import egress', () => {
  it('gives live-import jobs a group with egress to HTTPS and the database ports only, and no ingress', () => {
    const { json, stack } = synthesized;
    const group = stack.network.liveImportSecurityGroup;
    if (!group) throw new Error('no live-import group');
    const properties = json.Resources[logicalIdOf(synthesized, group)]?.Properties;
    expect(properties?.SecurityGroupIngress).toBeUndefined();
    const egress = properties?.SecurityGroupEgress as Array<Record<string, unknown>>;
    expect(egress.map((rule) => [rule.IpProtocol, rule.FromPort, rule.ToPort]).sort()).toEqual(
      [443, ...LIVE_IMPORT_PORTS].map((port) => ['tcp', port, port]).sort(),
    );
  });

  it('routes only the live-import subnets through the NAT gateway, and tells the workflow to run live imports there', () => {
    const { json, stack } = synthesized;
    const routes = Object.entries(json.Resources).filter(
      ([, resource]) => resource.Type === 'AWS::EC2::Route' && resource.Properties?.NatGatewayId,
    );
    expect(routes.length).toBeGreaterThan(0);
    for (const [id] of routes) expect(id).toMatch(/VpcLiveImportsSubnet/);
    const env = functionEnvironment(json, logicalIdOf(synthesized, stack.workflows.taskFunction.function));
    const liveSubnets = stack.network.vpc.selectSubnets(stack.network.liveImportSubnets).subnets;
    const jobSubnets = stack.network.vpc.selectSubnets(stack.network.databaseSubnets).subnets;
    expect(liveSubnets.length).toBeGreaterThanOrEqual(2);
    const idOf = (subnet: (typeof liveSubnets)[number]) => logicalIdOf(synthesized, subnet as never);
    const raw = json.Resources[logicalIdOf(synthesized, stack.workflows.taskFunction.function)]
      ?.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    const variables = raw.Environment.Variables;
    expect(refsOf(variables.LIVE_IMPORT_SUBNET_IDS).sort()).toEqual(
      liveSubnets.map((s) => `"Ref":"${idOf(s)}"`).sort(),
    );
    expect(refsOf(variables.JOB_SUBNET_IDS).sort()).toEqual(
      jobSubnets.map((s) => `"Ref":"${idOf(s)}"`).sort(),
    );
    expect(JSON.stringify(variables.LIVE_IMPORT_SECURITY_GROUP_IDS)).toContain(
      logicalIdOf(synthesized, stack.network.liveImportSecurityGroup as never),
    );
    expect(env.JOB_SECURITY_GROUP_IDS).toBeDefined();
    // Nothing but the live-import subnets and the public NAT subnets has a default route.
    for (const subnet of jobSubnets) {
      const associations = resourcesOfType(json, 'AWS::EC2::SubnetRouteTableAssociation')
        .map(([, resource]) => resource)
        .filter((resource) => JSON.stringify(resource.Properties?.SubnetId).includes(idOf(subnet)));
      for (const association of associations) {
        const table = JSON.stringify(association.Properties?.RouteTableId);
        const defaults = resourcesOfType(json, 'AWS::EC2::Route')
          .map(([, resource]) => resource)
          .filter(
            (route) =>
              JSON.stringify(route.Properties?.RouteTableId) === table &&
              route.Properties?.DestinationCidrBlock === '0.0.0.0/0',
          );
        expect(defaults).toEqual([]);
      }
    }
  });

  it("lets the API and the sweep reach live imports' secrets only, not addons' connection details", () => {
    const { json, stack } = synthesized;
    for (const fn of [stack.api.functions.backups, stack.schedules.sweep]) {
      if (!fn) throw new Error('missing function');
      // Statements on this deployment's secrets (the cursor key's secret is another one).
      const statements = roleStatements(json, logicalIdOf(synthesized, fn.role)).filter((statement) =>
        JSON.stringify(statement.Resource).includes(`secret:${stack.data.secretNamePrefix}`),
      );
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) expect(JSON.stringify(statement.Resource)).toMatch(/\/imp-\*/);
    }
  });
});
