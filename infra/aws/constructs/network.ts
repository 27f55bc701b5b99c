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

/**
 * Where addons live: a VPC whose only subnets are isolated (no route to or from the
 * internet), one per availability zone for the DB subnet group. Security groups of addons are
 * created by the provisioning workflow rather than by CDK (`AddonSecurityGroups`): one client
 * group per project, and per addon a group admitting the engine port from its project's client
 * group only. Workloads attach their project's client group (the addon's `network` field); the
 * platform's own functions never connect to a database and stay outside the VPC.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Dump and restore jobs (Fargate): HTTPS to the VPC endpoints, beside their addon's project client group. */
  readonly jobSecurityGroup: ec2.SecurityGroup;

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

    // Jobs run in the isolated subnets too: they reach AWS through VPC endpoints only. S3 is a
    // gateway endpoint (free; ECR image layers come from S3 as well); ECR, CloudWatch Logs and
    // Secrets Manager are interface endpoints, admitting the job group only.
    this.jobSecurityGroup = new ec2.SecurityGroup(this, 'JobSecurityGroup', {
      vpc: this.vpc,
      description: 'Dump and restore jobs: HTTPS to AWS through the VPC endpoints',
      allowAllOutbound: false,
    });
    // The S3 gateway endpoint is reached by the public S3 addresses of its prefix list, whose id
    // an environment-agnostic stack cannot know: HTTPS to anywhere, in subnets with no route out.
    this.jobSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'AWS APIs through the VPC endpoints (no internet route exists)',
    );
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface VPC endpoints: HTTPS from the jobs',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(this.jobSecurityGroup, ec2.Port.tcp(443), 'Jobs');
    this.vpc.addGatewayEndpoint('S3Endpoint', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [this.databaseSubnets],
    });
    const interfaceEndpoints = {
      EcrApiEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDockerEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      LogsEndpoint: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      SecretsManagerEndpoint: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    for (const [id, service] of Object.entries(interfaceEndpoints)) {
      this.vpc.addInterfaceEndpoint(id, {
        service,
        subnets: this.databaseSubnets,
        privateDnsEnabled: true,
        securityGroups: [endpointSecurityGroup],
        open: false,
      });
    }
  }

  /** The subnets a DB subnet group spans; jobs run in them too. */
  get databaseSubnets(): ec2.SubnetSelection {
    return { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  }
}
