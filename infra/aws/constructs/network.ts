import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** @default 10.60.0.0/16 */
  cidr?: string;
  /** @default one month */
  logRetention?: RetentionDays;
}

/** Ports the addons listen on; the client security group may reach them. */
export const ADDON_PORTS = [5432] as const;

/**
 * Where addons live: a VPC whose only subnets are isolated (no route to or from the
 * internet), one per availability zone for the DB subnet group. Each addon gets its own
 * security group, created by the provisioning workflow rather than by CDK, that admits the
 * engine port from the client security group only; workloads that use addons attach it.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  readonly clientSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.60.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Databases', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      // Nothing uses the default security group; restricting it needs a custom-resource Lambda
      // outside the project's runtime and architecture.
      restrictDefaultSecurityGroup: false,
    });
    const flowLogs = new LogGroup(this, 'FlowLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    this.clientSecurityGroup = new ec2.SecurityGroup(this, 'ClientSecurityGroup', {
      vpc: this.vpc,
      description:
        'Attach to workloads that connect to addons: every addon admits this group on its engine port',
      allowAllOutbound: false,
    });
    for (const port of ADDON_PORTS) {
      this.clientSecurityGroup.addEgressRule(
        ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
        ec2.Port.tcp(port),
        'Addon engines',
      );
    }
  }

  /** The subnets a DB subnet group spans. */
  get databaseSubnets(): ec2.SubnetSelection {
    return { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  }
}
