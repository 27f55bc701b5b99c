import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** @default 10.60.0.0/16 */
  cidr?: string;
  /** @default one month */
  logRetention?: RetentionDays;
  /**
   * Live imports (jobs that read a database outside the platform): public subnets with one NAT
   * gateway, private subnets routed through it for those jobs only, and the database ports their
   * group may reach. `false`: no route out of the VPC at all, live-import jobs run like the others
   * and can reach only sources inside the VPC (or peered/attached networks routed into it).
   * @default { ports: [5432, 3306] }
   */
  liveImports?: false | { ports?: number[] };
}

/** The source ports a live-import job may connect to by default: PostgreSQL's and MySQL's. */
export const LIVE_IMPORT_PORTS = [5432, 3306];

/** The subnet group name of the public database subnets. */
const PUBLIC_DATABASE_SUBNETS = 'PublicDatabases';

/**
 * Where addons live: a VPC with isolated subnets (no route to or from the internet), one per
 * availability zone, for DocumentDB, ElastiCache and the jobs; and public subnets (one per zone,
 * routed to the internet gateway) for the RDS addons, which RDS can only make public in place
 * (`PubliclyAccessible`) when they already sit in public subnets. Security groups of addons are
 * created by the provisioning workflow rather than by CDK (`AddonSecurityGroups`): one client
 * group per project, and per addon a group admitting the engine port from its project's client
 * group only. Workloads attach their project's client group (the addon's `network` field); the
 * platform's own functions never connect to a database and stay outside the VPC.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Dump and restore jobs (Fargate): HTTPS to the VPC endpoints, beside their addon's project client group. */
  readonly jobSecurityGroup: ec2.SecurityGroup;
  /**
   * Live-import jobs: the same AWS access as the job group, plus TCP to the database ports
   * anywhere (through the NAT gateway); absent when live imports have no egress.
   */
  readonly liveImportSecurityGroup: ec2.SecurityGroup | undefined;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const liveImports = props.liveImports === false ? undefined : (props.liveImports ?? {});
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.60.0.0/16'),
      maxAzs: 2,
      // One NAT gateway (one AZ): only live imports use it, and one outage there fails an import
      // that can be started again; two would double the fixed cost for that.
      natGateways: liveImports ? 1 : 0,
      // Databases first: appending the live-import groups keeps the database subnets' CIDRs, and
      // appending the public database subnets keeps every earlier group's.
      subnetConfiguration: [
        { name: 'Databases', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
        ...(liveImports
          ? [
              { name: 'Egress', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 26, mapPublicIpOnLaunch: false },
              { name: 'LiveImports', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
            ]
          : []),
        // RDS addons (PostgreSQL, MySQL): routed to the internet gateway, so that PubliclyAccessible
        // can make one public in place (docs/networking.md). Nothing here gets a public address
        // unless RDS gives it one, and an addon's security group admits only its project's
        // clients until it is made public with an allow list.
        {
          name: PUBLIC_DATABASE_SUBNETS,
          subnetType: ec2.SubnetType.PUBLIC,
          cidrMask: 24,
          mapPublicIpOnLaunch: false,
        },
      ],
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
    this.liveImportSecurityGroup = liveImports
      ? liveImportGroup(this, this.vpc, endpointSecurityGroup, liveImports.ports ?? LIVE_IMPORT_PORTS)
      : undefined;
    this.vpc.addGatewayEndpoint('S3Endpoint', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      // Live-import jobs pull their image layers from S3 too: through the endpoint, not the NAT.
      subnets: [this.databaseSubnets, ...(liveImports ? [this.liveImportSubnets] : [])],
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

  /** Where live-import jobs run: private subnets whose default route is the NAT gateway. */
  get liveImportSubnets(): ec2.SubnetSelection {
    return { subnetGroupName: 'LiveImports' };
  }

  /**
   * The public subnets of the RDS addons' DB subnet group: an instance there has a public address
   * only while RDS's `PubliclyAccessible` is on.
   */
  get publicDatabaseSubnets(): ec2.SubnetSelection {
    return { subnetGroupName: PUBLIC_DATABASE_SUBNETS };
  }

  /** The subnets a DB subnet group spans; jobs run in them too. */
  get databaseSubnets(): ec2.SubnetSelection {
    return { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  }
}

/**
 * The group of live-import jobs: HTTPS (AWS APIs through the endpoints, as every job) and TCP to
 * the given database ports only, anywhere: the source is the user's database wherever it is.
 * No other port, no UDP (DNS goes to the VPC resolver, which security groups do not filter).
 */
const liveImportGroup = (
  scope: Construct,
  vpc: ec2.IVpc,
  endpoints: ec2.SecurityGroup,
  ports: readonly number[],
): ec2.SecurityGroup => {
  const group = new ec2.SecurityGroup(scope, 'LiveImportSecurityGroup', {
    vpc,
    description: 'Live-import jobs: HTTPS to AWS, TCP to source database ports',
    allowAllOutbound: false,
  });
  group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs through the VPC endpoints');
  for (const port of ports) {
    group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `Live-import sources on port ${port}`);
  }
  endpoints.addIngressRule(group, ec2.Port.tcp(443), 'Live-import jobs');
  return group;
};
