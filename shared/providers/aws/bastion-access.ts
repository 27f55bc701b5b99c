import {
  AuthorizeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../errors.ts';
import { BASTION_RULE_DESCRIPTION, listAddonGroups } from './addon-security-groups.ts';
import { isAwsError, toPlatformError } from './aws-errors.ts';

export interface BastionAccessProps {
  ec2: EC2Client;
  vpcId: string;
  /** Value of the `addons:deployment` tag: only this deployment's addon groups are looked at. */
  deployment: string;
  /** The bastion's group (`BASTION_SECURITY_GROUP_ID`); unset: the deployment has no bastion. */
  bastionGroupId?: string;
}

/** What one pass changed: `<addon group> <port>` for each rule added or removed. */
export interface BastionAccessSummary {
  admitted: string[];
  revoked: string[];
  failed: Array<{ groupId: string; reason: string }>;
}

const pairsOf = (rule: IpPermission) => rule.UserIdGroupPairs ?? [];
const isBastionPair = (pair: { Description?: string }) => pair.Description === BASTION_RULE_DESCRIPTION;

/**
 * Keeps every addon group of the deployment admitting the bastion exactly while there is one
 * (`-c bastion=true`, docs/networking.md): the reconciler's pass. New addons get the rule from
 * their provisioning (`AddonSecurityGroups.ensureAddonGroup`); this adds it to groups created
 * before the bastion, on the port(s) the group admits its project's clients on, and revokes the
 * rules (told by their description) that admit another group: a previous bastion's, or every
 * one once the bastion is turned off. Idempotent: a rule already there (`InvalidPermission.Duplicate`)
 * or already gone (`InvalidPermission.NotFound`) is fine; a group that fails is reported and
 * the others still converge.
 */
export class BastionAccess {
  constructor(private readonly props: BastionAccessProps) {}

  async converge(): Promise<BastionAccessSummary> {
    const summary: BastionAccessSummary = { admitted: [], revoked: [], failed: [] };
    for (const group of await this.addonGroups()) {
      const groupId = group.GroupId as string;
      try {
        await this.convergeGroup(groupId, group.IpPermissions ?? [], summary);
      } catch (error) {
        summary.failed.push({ groupId, reason: errorMessage(error) });
      }
    }
    return summary;
  }

  private async convergeGroup(groupId: string, rules: IpPermission[], summary: BastionAccessSummary) {
    const { bastionGroupId } = this.props;
    for (const rule of rules) {
      for (const pair of pairsOf(rule).filter(
        (each) => isBastionPair(each) && each.GroupId !== bastionGroupId,
      )) {
        const permission = { ...port(rule), UserIdGroupPairs: [{ GroupId: pair.GroupId }] };
        await tolerating(
          'InvalidPermission.NotFound',
          `revoking a former bastion's rule from ${groupId}`,
          () =>
            this.props.ec2.send(
              new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [permission] }),
            ),
        );
        summary.revoked.push(`${groupId} ${rule.FromPort}`);
      }
    }
    if (!bastionGroupId) return;
    // The engine port: where the group admits another group (its project's clients).
    const clientRules = rules.filter(
      (rule) => rule.IpProtocol === 'tcp' && pairsOf(rule).some((pair) => !isBastionPair(pair)),
    );
    // One rule per port (two client groups on one port make one bastion rule).
    for (const rule of new Map(clientRules.map((each) => [each.FromPort, each])).values()) {
      const admitted = rules.some(
        (other) =>
          other.FromPort === rule.FromPort && pairsOf(other).some((pair) => pair.GroupId === bastionGroupId),
      );
      if (admitted) continue;
      const permission = {
        ...port(rule),
        UserIdGroupPairs: [{ GroupId: bastionGroupId, Description: BASTION_RULE_DESCRIPTION }],
      };
      await tolerating('InvalidPermission.Duplicate', `admitting the bastion in ${groupId}`, () =>
        this.props.ec2.send(
          new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [permission] }),
        ),
      );
      summary.admitted.push(`${groupId} ${rule.FromPort}`);
    }
  }

  /** The deployment's addon groups (tagged with an addon) in its VPC. */
  private async addonGroups(): Promise<SecurityGroup[]> {
    const groups = await listAddonGroups(this.props.ec2, this.props);
    return groups.filter((group) => group.GroupId);
  }
}

/** Runs an EC2 change; the error code `ignore` means it was already made. */
const tolerating = async (ignore: string, doing: string, run: () => Promise<unknown>): Promise<void> => {
  try {
    await run();
  } catch (error) {
    if (!isAwsError(error, ignore)) throw toPlatformError(error, doing);
  }
};

const port = (rule: IpPermission) => ({
  IpProtocol: rule.IpProtocol,
  FromPort: rule.FromPort,
  ToPort: rule.ToPort,
});
