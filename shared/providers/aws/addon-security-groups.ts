import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
  type IpPermission,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
  type Tag,
} from '@aws-sdk/client-ec2';
import { ProviderError } from '../../errors.ts';
import type { InstanceState } from '../../ports/engine-provider.ts';
import { isAwsError, toPlatformError, transientErrors } from './aws-errors.ts';
import { PROJECT_CLIENTS_ROLE, TAG_KEYS } from './tags.ts';

export interface AddonSecurityGroupsProps {
  ec2: EC2Client;
  /** The VPC of the deployment: every group is created in it. */
  vpcId: string;
  /** Its CIDR block: a project's clients may reach addon ports inside the VPC only. */
  vpcCidr: string;
  /** Value of the `addons:deployment` tag. */
  deployment: string;
  /** The engine port addon groups admit and client groups may reach. */
  port: number;
  /**
   * The deployment's bastion group (`-c bastion=true`, docs/networking.md): every addon group
   * admits it on the engine port beside its project's clients, so that Session Manager port
   * forwarding through the bastion reaches the addon. Unset: no bastion.
   */
  bastionGroupId?: string;
}

/** What an addon's group is created for. */
export interface AddonGroupSpec {
  resourceId: string;
  projectId: string;
  addonId: string;
  /** Words for the group's description, e.g. `PostgreSQL addon`. */
  label: string;
}

/**
 * Every addon security group of a deployment (tagged with the deployment and an addon) in its VPC,
 * page by page: what the leftover sweep and the bastion's convergence both walk.
 */
export const listAddonGroups = async (
  ec2: Pick<EC2Client, 'send'>,
  where: { vpcId: string; deployment: string },
): Promise<SecurityGroup[]> => {
  const found: SecurityGroup[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [where.vpcId] },
          { Name: `tag:${TAG_KEYS.deployment}`, Values: [where.deployment] },
          { Name: 'tag-key', Values: [TAG_KEYS.addon] },
        ],
        NextToken: token,
      }),
    );
    found.push(...(page.SecurityGroups ?? []));
    token = page.NextToken;
  } while (token);
  return found;
};

/** The description of the rule admitting the bastion: how the reconciler tells it (bastion-access.ts). */
export const BASTION_RULE_DESCRIPTION = 'Session Manager bastion of the deployment';

/** Group names are unique in a VPC; `addon-...` names are the addons' own groups. */
export const projectClientGroupName = (projectId: string): string => `clients-${projectId}`;

const ALL_TRAFFIC_TO_ANYWHERE: IpPermission = { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] };

/**
 * Network isolation between projects. Each project has one client security group (created the
 * first time one of its addons is, then kept for the project's later addons); each addon has its
 * own group, which admits the engine port from its project's client group only. A workload of
 * project A attaches A's client group and reaches A's addons, and nothing of project B.
 *
 * A client group may only send to the engine port inside the VPC: its default "all traffic"
 * egress is revoked, so attaching it widens no workload's outbound access.
 */
export class AddonSecurityGroups {
  private readonly ec2: EC2Client['send'];

  constructor(private readonly props: AddonSecurityGroupsProps) {
    this.ec2 = transientErrors(props.ec2, 'EC2');
  }

  async findProjectClientGroupId(projectId: string): Promise<string | undefined> {
    return (await this.find(projectClientGroupName(projectId)))?.GroupId;
  }

  /** The project's client group, created (idempotently) when missing. */
  async ensureProjectClientGroup(projectId: string): Promise<string> {
    const name = projectClientGroupName(projectId);
    const { group, created } = await this.findOrCreate(
      name,
      `Clients of the addons of project ${projectId}`,
      [
        { Key: TAG_KEYS.project, Value: projectId },
        { Key: TAG_KEYS.role, Value: PROJECT_CLIENTS_ROLE },
      ],
    );
    const egress = group.IpPermissionsEgress ?? [];
    const allowsAll = egress.some(
      (rule) => rule.IpProtocol === '-1' && rule.IpRanges?.some((range) => range.CidrIp === '0.0.0.0/0'),
    );
    // A new group comes with EC2's default "all traffic" egress rule.
    if (created || allowsAll) await this.revokeDefaultEgress(group.GroupId);
    const reachesAddons = egress.some(
      (rule) =>
        rule.FromPort === this.props.port &&
        rule.IpRanges?.some((range) => range.CidrIp === this.props.vpcCidr),
    );
    if (!reachesAddons) {
      try {
        await this.ec2(
          new AuthorizeSecurityGroupEgressCommand({
            GroupId: group.GroupId,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: this.props.port,
                ToPort: this.props.port,
                IpRanges: [{ CidrIp: this.props.vpcCidr, Description: 'Addons of the project' }],
              },
            ],
          }),
        );
      } catch (error) {
        if (!isAwsError(error, 'InvalidPermission.Duplicate')) {
          throw toPlatformError(error, "opening the project's client security group to its addons");
        }
      }
    }
    return group.GroupId;
  }

  /**
   * The addon's own group, admitting the engine port from `clientGroupId` (and the deployment's
   * bastion group, where there is one) only. Idempotent: a source already admitted is left alone.
   */
  async ensureAddonGroup(spec: AddonGroupSpec, clientGroupId: string): Promise<string> {
    const { group } = await this.findOrCreate(
      spec.resourceId,
      `${spec.label} ${spec.addonId} of project ${spec.projectId}`,
      [
        { Key: TAG_KEYS.project, Value: spec.projectId },
        { Key: TAG_KEYS.addon, Value: spec.addonId },
      ],
    );
    const sources = [
      {
        groupId: clientGroupId,
        description: `Clients of project ${spec.projectId}`,
        what: "its project's clients",
      },
      ...(this.props.bastionGroupId
        ? [
            {
              groupId: this.props.bastionGroupId,
              description: BASTION_RULE_DESCRIPTION,
              what: "the deployment's bastion",
            },
          ]
        : []),
    ];
    for (const source of sources) {
      const opened = group.IpPermissions?.some(
        (permission) =>
          permission.FromPort === this.props.port &&
          permission.UserIdGroupPairs?.some((pair) => pair.GroupId === source.groupId),
      );
      if (opened) continue;
      try {
        await this.ec2(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: group.GroupId,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: this.props.port,
                ToPort: this.props.port,
                UserIdGroupPairs: [{ GroupId: source.groupId, Description: source.description }],
              },
            ],
          }),
        );
      } catch (error) {
        if (!isAwsError(error, 'InvalidPermission.Duplicate')) {
          throw toPlatformError(error, `opening the addon's security group to ${source.what}`);
        }
      }
    }
    return group.GroupId;
  }

  /**
   * A public addon's allow list on its own group: one ingress rule per CIDR on the engine port,
   * those of CIDRs no longer listed revoked (`[]`: every one, the addon private again). The rule
   * admitting the project's clients is left alone. Idempotent.
   */
  async setAllowedCidrs(resourceId: string, cidrs: readonly string[]): Promise<void> {
    const group = await this.find(resourceId);
    if (!group?.GroupId) {
      throw new ProviderError(`The security group of ${resourceId} does not exist`, 'NotFound');
    }
    const { port } = this.props;
    const present = new Set(
      (group.IpPermissions ?? [])
        .filter((rule) => rule.IpProtocol === 'tcp' && rule.FromPort === port && rule.ToPort === port)
        .flatMap((rule) => (rule.IpRanges ?? []).map((range) => range.CidrIp))
        .filter((cidr): cidr is string => Boolean(cidr)),
    );
    const rule = (cidr: string): IpPermission[] => [
      {
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
        IpRanges: [{ CidrIp: cidr, Description: 'Allowed while the addon is public' }],
      },
    ];
    for (const cidr of [...present].filter((cidr) => !cidrs.includes(cidr))) {
      try {
        const permissions = rule(cidr).map(({ IpRanges, ...rest }) => ({
          ...rest,
          IpRanges: IpRanges?.map(({ CidrIp }) => ({ CidrIp })),
        }));
        await this.ec2(
          new RevokeSecurityGroupIngressCommand({ GroupId: group.GroupId, IpPermissions: permissions }),
        );
      } catch (error) {
        if (!isAwsError(error, 'InvalidPermission.NotFound')) {
          throw toPlatformError(error, `revoking ${cidr} from the addon's security group`);
        }
      }
    }
    for (const cidr of cidrs.filter((cidr) => !present.has(cidr))) {
      try {
        await this.ec2(
          new AuthorizeSecurityGroupIngressCommand({ GroupId: group.GroupId, IpPermissions: rule(cidr) }),
        );
      } catch (error) {
        if (!isAwsError(error, 'InvalidPermission.Duplicate')) {
          throw toPlatformError(error, `admitting ${cidr} in the addon's security group`);
        }
      }
    }
  }

  async findAddonGroupId(resourceId: string): Promise<string | undefined> {
    return (await this.find(resourceId))?.GroupId;
  }

  /**
   * An available addon's state with what its users attach to reach it: their project's client
   * group (`projectId` from the instance's tags; the state as is when there is none).
   */
  async withClientGroup(
    state: Extract<InstanceState, { status: 'available' }>,
    projectId: string | undefined,
  ): Promise<InstanceState> {
    const clientGroupId = projectId ? await this.findProjectClientGroupId(projectId) : undefined;
    return clientGroupId ? { ...state, network: { clientSecurityGroupId: clientGroupId } } : state;
  }

  /**
   * The addon's instance is gone: its security group goes too. `absent` once the group is gone,
   * `deleting` while the service still has network interfaces in it (the next call retries).
   */
  async retireAddonGroup(resourceId: string): Promise<'absent' | 'deleting'> {
    const groupId = await this.findAddonGroupId(resourceId);
    if (!groupId) return 'absent';
    return (await this.delete(groupId)) ? 'absent' : 'deleting';
  }

  /** True once the group is gone; false while RDS still has network interfaces in it. */
  async delete(groupId: string): Promise<boolean> {
    try {
      await this.ec2(new DeleteSecurityGroupCommand({ GroupId: groupId }));
      return true;
    } catch (error) {
      if (isAwsError(error, 'InvalidGroup.NotFound')) return true;
      if (isAwsError(error, 'DependencyViolation')) return false;
      throw toPlatformError(error, "deleting the addon's security group");
    }
  }

  private async find(name: string): Promise<SecurityGroup | undefined> {
    try {
      const result = await this.ec2(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: 'vpc-id', Values: [this.props.vpcId] },
            { Name: 'group-name', Values: [name] },
          ],
        }),
      );
      return result.SecurityGroups?.[0];
    } catch (error) {
      throw toPlatformError(error, `looking up security group ${name}`);
    }
  }

  /** Find the group by name, or create it tagged with the deployment (a retried call finds the first attempt's). */
  private async findOrCreate(
    name: string,
    description: string,
    tags: Tag[],
  ): Promise<{ group: SecurityGroup & { GroupId: string }; created: boolean }> {
    const existing = await this.find(name);
    if (existing?.GroupId) return { group: { ...existing, GroupId: existing.GroupId }, created: false };
    try {
      const created = await this.ec2(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: description,
          VpcId: this.props.vpcId,
          TagSpecifications: [
            {
              ResourceType: 'security-group',
              Tags: [{ Key: TAG_KEYS.deployment, Value: this.props.deployment }, ...tags],
            },
          ],
        }),
      );
      if (created.GroupId) return { group: { GroupId: created.GroupId }, created: true };
    } catch (error) {
      if (!isAwsError(error, 'InvalidGroup.Duplicate')) {
        throw toPlatformError(error, `creating security group ${name}`);
      }
    }
    // Created concurrently (another addon of the project), or EC2 returned no id.
    const raced = await this.find(name);
    if (!raced?.GroupId) throw new ProviderError(`Security group ${name} vanished while it was being set up`);
    return { group: { ...raced, GroupId: raced.GroupId }, created: false };
  }

  private async revokeDefaultEgress(groupId: string): Promise<void> {
    try {
      await this.ec2(
        new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [ALL_TRAFFIC_TO_ANYWHERE] }),
      );
    } catch (error) {
      if (!isAwsError(error, 'InvalidPermission.NotFound')) {
        throw toPlatformError(error, "restricting the project's client security group");
      }
    }
  }
}
