import type { DocDBClient } from '@aws-sdk/client-docdb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EngineAdapters } from '../../../ports/engine-provider.ts';
import { DocdbEngineProvider } from './docdb-engine-provider.ts';

export { DOCDB_PORT } from './docdb-clusters.ts';
export { DocdbEngineProvider } from './docdb-engine-provider.ts';
export { DocdbClusterLeftovers, DocdbSnapshotLeftovers } from './docdb-leftovers.ts';
export { DocdbSnapshotDeleter } from './docdb-snapshots.ts';

/** What the MongoDB adapters need from the stack's settings (`AwsEngineSettings`). */
export interface DocdbSettings {
  vpcId: string;
  vpcCidr: string;
  subnetGroupName: string;
  kmsKeyId: string;
  deployment: string;
  tlsParameterGroups: Record<string, string>;
  /** The deployment's bastion group, admitted by every addon group (`AddonSecurityGroupsProps`); unset: no bastion. */
  bastionGroupId?: string;
}

/**
 * MongoDB addons on AWS: Amazon DocumentDB 5.0 clusters (`DocdbEngineProvider`), provisioning
 * cluster snapshots and reader instances (`replicas`) from one object, as for the RDS engines.
 */
export const docdbEngine = (
  settings: DocdbSettings,
  clients: { docdb: DocDBClient; ec2: EC2Client },
): EngineAdapters => {
  const provider = new DocdbEngineProvider({ ...settings, docdb: clients.docdb, ec2: clients.ec2 });
  return { provider, snapshots: provider, replicas: provider.replicas };
};
