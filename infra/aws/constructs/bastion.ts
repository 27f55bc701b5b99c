import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';
import type { Network } from './network.ts';

export interface BastionProps {
  network: Network;
  /** The engine ports the bastion may forward to, inside the VPC (one per engine the stack deploys). */
  ports: readonly number[];
}

/** The managed policy the SSM agent needs, and the only one the bastion's role has. */
export const BASTION_MANAGED_POLICY = 'AmazonSSMManagedInstanceCore';

/** The Session Manager endpoints the agent of an instance without a route out needs. */
const SESSION_MANAGER_ENDPOINTS = {
  SsmEndpoint: ec2.InterfaceVpcEndpointAwsService.SSM,
  SsmMessagesEndpoint: ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
  Ec2MessagesEndpoint: ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
};

/**
 * The opt-in way in from an operator's machine (`-c bastion=true`, docs/networking.md "Reaching
 * a private AWS addon from your machine"): a t4g.nano in one isolated subnet that Session
 * Manager port forwarding (`AWS-StartPortForwardingSessionToRemoteHost`, `addons tunnel`) goes
 * through. No SSH key, no inbound rule, no public address: the only way in is an IAM-authorized
 * `ssm:StartSession`. Its group may send only HTTPS (to the Session Manager endpoints) and the
 * engine ports inside the VPC; each addon's group admits it beside its project's clients
 * (`AddonSecurityGroups`, given the group id by the workflow function).
 *
 * Cost (us-east-1 prices): three interface endpoints in one availability zone ($0.01 an hour
 * each, about $22 a month), the instance and its 8 GiB gp3 volume (about $4) and its detailed
 * monitoring (about $2): about $28 a month, hence off by default.
 */
export class Bastion extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly instance: ec2.Instance;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: BastionProps) {
    super(scope, id);
    const { vpc } = props.network;
    // One subnet (one zone) for the instance and the endpoints: endpoints bill per zone, and a
    // bastion in one zone has no use for the other's.
    const subnets: ec2.SubnetSelection = { subnets: [vpc.isolatedSubnets[0] as ec2.ISubnet] };

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'Session Manager bastion: no inbound; HTTPS to its endpoints, engine ports in the VPC',
      allowAllOutbound: false,
    });
    // The endpoints' addresses are the subnet's, allocated by AWS: HTTPS anywhere, in a subnet
    // with no route out of the VPC.
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'Session Manager through the VPC endpoints (no internet route exists)',
    );
    for (const port of [...new Set(props.ports)]) {
      this.securityGroup.addEgressRule(
        ec2.Peer.ipv4(vpc.vpcCidrBlock),
        ec2.Port.tcp(port),
        `Addons on port ${port} (forwarded sessions)`,
      );
    }

    const endpointGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Session Manager endpoints: HTTPS from the bastion',
      allowAllOutbound: false,
    });
    endpointGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'The bastion');
    for (const [endpointId, service] of Object.entries(SESSION_MANAGER_ENDPOINTS)) {
      new ec2.InterfaceVpcEndpoint(this, endpointId, {
        vpc,
        service,
        subnets,
        privateDnsEnabled: true,
        securityGroups: [endpointGroup],
        open: false,
      });
    }

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Session Manager bastion: the SSM agent only',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName(BASTION_MANAGED_POLICY)],
    });
    acknowledgeNag(
      this.role,
      `IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${BASTION_MANAGED_POLICY}]`,
      `${BASTION_MANAGED_POLICY} is the policy AWS maintains for the SSM agent (ssm, ssmmessages, ec2messages); a copy would drift from what the agent needs`,
    );

    this.instance = new ec2.Instance(this, 'Instance', {
      vpc,
      vpcSubnets: subnets,
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
      securityGroup: this.securityGroup,
      role: this.role,
      // IMDSv2 on the instance itself (`requireImdsv2` would add a launch template for it).
      httpTokens: ec2.HttpTokens.REQUIRED,
      // About $2 a month (CT.EC2.PR.13 asks for it): one-minute metrics of the only way in.
      detailedMonitoring: true,
      associatePublicIpAddress: false,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });
    acknowledgeNag(
      this.instance,
      'EC29',
      'The bastion holds no state and is replaced freely; termination protection would make turning `-c bastion` off (or deleting the stack) fail',
    );
    acknowledgeGuard(
      this.instance,
      'ec2_instance_nitro_encryption_in_transit_check',
      'The rule is about traffic between instances; the bastion carries only the Session Manager channel (TLS to the endpoints) and forwarded database connections that clients encrypt end to end. A Nitro type with in-transit encryption costs about ten times a t4g.nano',
    );
  }
}
