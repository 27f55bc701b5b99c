import {
  type DBInstance,
  ModifyDBInstanceCommand,
  type ModifyDBInstanceMessage,
  RebootDBInstanceCommand,
} from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { NetworkingApplied, NetworkingState } from '../../../ports/engine-provider.ts';
import type { NetworkingSettings } from '../../../schemas/networking.ts';
import type { AddonSecurityGroups } from '../addon-security-groups.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import type { RdsParameterGroups } from './rds-engine-provider.ts';
import { instanceStateOf, type RdsInstances, type RdsSend } from './rds-instances.ts';

export interface RdsNetworkingProps {
  rds: RdsSend;
  instances: RdsInstances;
  groups: AddonSecurityGroups;
  parameterGroups: RdsParameterGroups;
  /**
   * The DB subnet group over the public subnets (where addons are created): only an instance in it
   * can be made public. Unset: no addon of this deployment can.
   */
  publicSubnetGroupName?: string;
}

/**
 * An RDS addon's networking after create (docs/networking.md), in place:
 * - public: `PubliclyAccessible` on (RDS gives the instance a public address; its endpoint keeps
 *   its DNS name, which resolves to the public address from outside the VPC and to the private one
 *   inside), plus one ingress rule per allowed CIDR on the engine port of the addon's own security
 *   group; private again: the rules revoked and `PubliclyAccessible` off. Only an instance created
 *   in the public subnets' group can go public; an older one is refused with a reason (RDS documents a subnet group
 *   change only for moving an instance to another VPC).
 * - TLS on or off: the instance switches to the deployment's other parameter group of its major
 *   (the one forcing TLS, or not), which RDS applies at the next reboot: `describe` reboots the
 *   instance once it is available with the new group pending.
 * `apply` begins the change (idempotent: what is already asked is not asked again); `describe`
 * says when it is in force.
 */
export class RdsNetworking {
  constructor(private readonly props: RdsNetworkingProps) {}

  async apply(resourceId: string, wanted: NetworkingSettings): Promise<NetworkingApplied> {
    const instance = await this.find(resourceId);
    const subnetGroup = instance.DBSubnetGroup?.DBSubnetGroupName;
    if (wanted.public && !instance.PubliclyAccessible && subnetGroup !== this.props.publicSubnetGroupName) {
      throw new ProviderError(
        `The database instance ${resourceId} lives in the isolated subnets (DB subnet group ${subnetGroup ?? 'unknown'}), and RDS documents a subnet group change only for moving an instance to another VPC: fork the addon (a fork is created in the public subnets) and make the fork public`,
        'PublicSubnetsRequired',
      );
    }
    // Rules first when going public (the address comes with PubliclyAccessible); revoked first when
    // going private, so no moment admits the old list on a new address.
    await this.props.groups.setAllowedCidrs(resourceId, wanted.public ? wanted.allow : []);
    const modification = this.modificationOf(instance, wanted);
    if (Object.keys(modification).length > 0) {
      try {
        await this.props.rds(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: resourceId,
            ...modification,
            // PubliclyAccessible is applied at once whatever this says; the parameter group is
            // associated now and used from the reboot on.
            ApplyImmediately: true,
          }),
        );
      } catch (error) {
        throw toPlatformError(error, "changing the database instance's networking");
      }
    }
    return this.appliedOf(instance, wanted);
  }

  async describe(resourceId: string, wanted: NetworkingSettings): Promise<NetworkingState> {
    const instance = await this.props.instances.find(resourceId);
    if (!instance)
      return { status: 'failed', reason: `The database instance ${resourceId} no longer exists` };
    const state = instanceStateOf(instance);
    if (state.status === 'failed') return state;
    if (state.status !== 'available' || instance.DBInstanceStatus === 'modifying')
      return { status: 'applying' };
    if (Boolean(instance.PubliclyAccessible) !== wanted.public) return { status: 'applying' };
    const group = instance.DBParameterGroups?.[0];
    if (group?.DBParameterGroupName !== this.parameterGroupFor(instance, wanted.tls)) {
      return { status: 'applying' };
    }
    switch (group.ParameterApplyStatus ?? 'in-sync') {
      case 'in-sync':
        return { status: 'applied', applied: this.appliedOf(instance, wanted) };
      case 'pending-reboot':
        await this.reboot(resourceId);
        return { status: 'applying' };
      case 'failed-to-apply':
        return {
          status: 'failed',
          reason: `RDS could not apply parameter group ${group.DBParameterGroupName} to ${resourceId}`,
        };
      default:
        return { status: 'applying' };
    }
  }

  /** The ModifyDBInstance fields that differ from what the instance has (none: nothing to ask). */
  private modificationOf(instance: DBInstance, wanted: NetworkingSettings): Partial<ModifyDBInstanceMessage> {
    const parameterGroup = this.parameterGroupFor(instance, wanted.tls);
    return {
      ...(Boolean(instance.PubliclyAccessible) !== wanted.public
        ? { PubliclyAccessible: wanted.public }
        : {}),
      ...(instance.DBParameterGroups?.[0]?.DBParameterGroupName !== parameterGroup
        ? { DBParameterGroupName: parameterGroup }
        : {}),
    };
  }

  /**
   * The deployment's group of the instance's major with TLS forced or not: the counterpart of the
   * group it has (both are keyed by major), else the one of the major it runs.
   */
  private parameterGroupFor(instance: DBInstance, tls: boolean): string {
    const { tls: forcing, noTls } = this.props.parameterGroups;
    const current = instance.DBParameterGroups?.[0]?.DBParameterGroupName;
    const version = instance.EngineVersion ?? '';
    const key =
      Object.keys(forcing).find((major) => forcing[major] === current || noTls[major] === current) ??
      Object.keys(forcing).find((major) => version === major || version.startsWith(`${major}.`));
    const group = key ? (tls ? forcing : noTls)[key] : undefined;
    if (!group) {
      throw new ProviderError(
        `This deployment has no parameter group ${tls ? 'forcing' : 'without'} TLS for ${instance.DBInstanceIdentifier} (version ${version}); redeploy the stack`,
        'Misconfigured',
      );
    }
    return group;
  }

  private appliedOf(instance: DBInstance, wanted: NetworkingSettings): NetworkingApplied {
    const host = instance.Endpoint?.Address;
    const port = instance.Endpoint?.Port;
    // The same DNS name: RDS resolves it to the public address from outside the VPC.
    return wanted.public && host && port ? { publicEndpoint: { host, port } } : {};
  }

  private async find(resourceId: string): Promise<DBInstance> {
    const instance = await this.props.instances.find(resourceId);
    if (!instance) throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
    return instance;
  }

  private async reboot(resourceId: string): Promise<void> {
    try {
      await this.props.rds(new RebootDBInstanceCommand({ DBInstanceIdentifier: resourceId }));
    } catch (error) {
      // Rebooting or modifying already (a retried describe): the next describe looks again.
      if (isAwsError(error, 'InvalidDBInstanceState')) return;
      throw toPlatformError(error, 'rebooting the database instance to apply its parameter group');
    }
  }
}
