import { CfnDBClusterParameterGroup } from 'aws-cdk-lib/aws-docdb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENGINES } from '#shared/catalog/engines.ts';
import { DOCDB_PORT } from '#shared/providers/aws/mongodb/index.ts';
import { TAG_KEY_PREFIX, TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { acknowledgeNag, nagArn } from '../../nag.ts';
import type { AddonEngine, EngineEnvironment } from './addon-engine.ts';
import { ADDON_RESOURCE_PREFIX, type RdsAddons } from './rds-engine.ts';

/** DocumentDB's cluster parameter group family of a catalog version (`5.0` -> `docdb5.0`). */
const familyOf = (version: string) => `docdb${version}`;

export interface MongodbAddonsProps {
  /**
   * What the RDS engines share and DocumentDB reuses: the DB subnet group (DocumentDB clusters
   * take RDS DB subnet groups: one resource of the same API family), the per-project security
   * groups' grants, the instance grants (DocumentDB instances are `rds` `db:` resources), the KMS
   * grant through RDS and RDS's service-linked role, which DocumentDB uses too.
   */
  rds: RdsAddons;
}

/**
 * MongoDB addons as Amazon DocumentDB clusters (shared/providers/aws/mongodb/). Created once:
 * per catalog version, one cluster parameter group with `tls` enabled (DocumentDB's default group
 * enables it too, but a group of our own states it and cannot drift). TLS is always on for MongoDB
 * addons (`tlsRequired`: a create with `tls: false` is a 422), so there is no group without it.
 * Everything per addon is created by the workflows. DocumentDB's API is RDS's: its IAM actions are `rds:*`, its resources
 * `cluster:`, `cluster-snapshot:`, `cluster-pg:` and `db:` ARNs, its tag conditions
 * `rds:cluster-tag/...` and `rds:cluster-snapshot-tag/...`.
 */
export class MongodbAddons extends Construct implements AddonEngine {
  readonly engine = 'mongodb' as const;
  readonly port = DOCDB_PORT;
  readonly tlsParameterGroups: Record<string, string> = {};
  private readonly rds: RdsAddons;
  private readonly provisioners = new Set<iam.IGrantable>();
  private readonly snapshotDeleters = new Set<iam.IGrantable>();

  constructor(scope: Construct, id: string, props: MongodbAddonsProps) {
    super(scope, id);
    this.rds = props.rds;
    for (const version of ENGINES.mongodb.versions.aws) {
      const idOf = version.replace(/[^A-Za-z0-9]/g, '');
      const required = new CfnDBClusterParameterGroup(this, `TlsParameters${idOf}`, {
        family: familyOf(version),
        description: `MongoDB (DocumentDB ${version}) addons with TLS required`,
        parameters: { tls: 'enabled' },
      });
      this.tlsParameterGroups[version] = required.ref;
    }
  }

  get environment(): EngineEnvironment {
    return { tlsParameterGroups: this.tlsParameterGroups };
  }

  /**
   * The dump job's MongoDB tools verify DocumentDB's certificate: it is issued by the Amazon RDS
   * certificate authorities, so the RDS global bundle of the job image is the CA file. The tools
   * read no such variable; the job turns it into `--tlsCAFile` (shared/jobs/mongodb/).
   */
  jobEnvironment(caBundle: string): Record<string, string> {
    return { ADDONS_MONGODB_TLS_CA_FILE: caBundle };
  }

  private get taggedAsOurs() {
    return {
      StringEquals: { [`aws:RequestTag/${TAG_KEYS.deployment}`]: this.rds.deploymentName },
      'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_KEY_PREFIX}*`] },
    };
  }

  private clusterSnapshotArns(): string {
    return this.rds.rdsArn('cluster-snapshot', `${ADDON_RESOURCE_PREFIX}*`);
  }

  /**
   * The shared RDS mechanics (security groups, `db:addon-*` instances, the storage key through
   * RDS, the service-linked role: `RdsAddons.grantInstances`), plus the cluster calls, on the
   * narrowest resources each supports and on this deployment's resources only (tag conditions),
   * as for the RDS engines. Not conditioned: Describe/ListTags (read-only), and what a create or
   * restore only references (the subnet group, our cluster parameter groups).
   */
  grantProvisioning(grantee: iam.IGrantable): void {
    this.rds.grantInstances(grantee);
    if (this.provisioners.has(grantee)) return;
    this.provisioners.add(grantee);
    const { deploymentName } = this.rds;
    const clusters = this.rds.rdsArn('cluster', `${ADDON_RESOURCE_PREFIX}*`);
    const snapshots = this.clusterSnapshotArns();
    const clusterIsOurs = { StringEquals: { [`rds:cluster-tag/${TAG_KEYS.deployment}`]: deploymentName } };
    const snapshotIsOurs = {
      StringEquals: { [`rds:cluster-snapshot-tag/${TAG_KEYS.deployment}`]: deploymentName },
    };
    const allow = (
      actions: string[],
      resourceArns: string[],
      conditions?: Record<string, Record<string, unknown>>,
    ) => iam.Grant.addToPrincipal({ grantee, actions, resourceArns, ...(conditions ? { conditions } : {}) });
    const parameterGroups = Object.values(this.tlsParameterGroups).map((name) =>
      this.rds.rdsArn('cluster-pg', name),
    );

    const creates = ['rds:CreateDBCluster', 'rds:RestoreDBClusterFromSnapshot'];
    allow(creates, [clusters], this.taggedAsOurs);
    allow(creates, [this.rds.rdsArn('subgrp', this.rds.subnetGroup.subnetGroupName), ...parameterGroups]);
    allow(['rds:RestoreDBClusterFromSnapshot'], [snapshots], snapshotIsOurs);
    // An instance joins one of our clusters (the instance itself: RdsAddons.grantInstances).
    allow(['rds:CreateDBInstance'], [clusters], clusterIsOurs);
    allow(['rds:CreateDBClusterSnapshot'], [clusters], clusterIsOurs);
    allow(['rds:CreateDBClusterSnapshot'], [snapshots], this.taggedAsOurs);
    allow(['rds:AddTagsToResource'], [clusters, snapshots], {
      ...this.taggedAsOurs,
      StringEqualsIfExists: {
        [`rds:cluster-tag/${TAG_KEYS.deployment}`]: deploymentName,
        [`rds:cluster-snapshot-tag/${TAG_KEYS.deployment}`]: deploymentName,
      },
    });
    allow(['rds:ModifyDBCluster', 'rds:DeleteDBCluster'], [clusters], clusterIsOurs);
    allow(['rds:DeleteDBClusterSnapshot'], [snapshots], snapshotIsOurs);
    allow(['rds:DescribeDBClusters', 'rds:ListTagsForResource'], [clusters]);
    allow(['rds:DescribeDBClusterSnapshots'], [snapshots]);

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    ack(
      nagArn('rds', `cluster:${ADDON_RESOURCE_PREFIX}*`),
      'Addon DocumentDB clusters are created at run time, one per addon; all are named addon-<addon id>, and changes require the deployment tag',
    );
    ack(
      nagArn('rds', `cluster-snapshot:${ADDON_RESOURCE_PREFIX}*`),
      'Snapshot backups of DocumentDB addons are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
  }

  /** Delete the cluster snapshots of MongoDB addons (the backups API, the retention sweep). */
  grantSnapshotDeletion(grantee: iam.IGrantable): void {
    if (this.snapshotDeleters.has(grantee)) return;
    this.snapshotDeleters.add(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DeleteDBClusterSnapshot'],
      resourceArns: [this.clusterSnapshotArns()],
      conditions: {
        StringEquals: { [`rds:cluster-snapshot-tag/${TAG_KEYS.deployment}`]: this.rds.deploymentName },
      },
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('rds', `cluster-snapshot:${ADDON_RESOURCE_PREFIX}*`)}]`,
      'Snapshot backups of DocumentDB addons are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
  }
}
