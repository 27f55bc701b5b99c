import type { EC2Client } from '@aws-sdk/client-ec2';
import type { RDSClient } from '@aws-sdk/client-rds';
import { EngineRegistry } from '../../engines/registry.ts';
import type { EngineAdapters, SnapshotDeleter } from '../../ports/engine-provider.ts';
import { RdsPostgresProvider, RdsSnapshotDeleter } from './rds-postgres-provider.ts';

/** Where the engines' resources go: what the stack passes to the workflow function. */
export interface AwsEngineSettings {
  vpcId: string;
  vpcCidr: string;
  subnetGroupName: string;
  kmsKeyId: string;
  deployment: string;
  /** Engine -> major -> parameter group forcing TLS, and one that does not. */
  tlsParameterGroups: Record<string, Record<string, string>>;
  noTlsParameterGroups: Record<string, Record<string, string>>;
}

export interface AwsEngineClients {
  rds: RDSClient;
  ec2: EC2Client;
}

/** The AWS adapters of each engine the stack deploys (the AWS half of architecture decision 10). */
export const awsEngineAdapters = (
  settings: AwsEngineSettings,
  clients: AwsEngineClients,
): EngineRegistry<EngineAdapters> =>
  new EngineRegistry<EngineAdapters>('AWS provisioning', {
    postgresql: () => {
      const rds = new RdsPostgresProvider({
        rds: clients.rds,
        ec2: clients.ec2,
        vpcId: settings.vpcId,
        vpcCidr: settings.vpcCidr,
        subnetGroupName: settings.subnetGroupName,
        kmsKeyId: settings.kmsKeyId,
        tlsParameterGroups: settings.tlsParameterGroups.postgresql ?? {},
        noTlsParameterGroups: settings.noTlsParameterGroups.postgresql ?? {},
        deployment: settings.deployment,
      });
      return { provider: rds, snapshots: rds };
    },
  });

/** What deletes each engine's snapshot backups, for the functions that only delete them. */
export const awsSnapshotDeleters = (rds: () => RDSClient): EngineRegistry<SnapshotDeleter> =>
  new EngineRegistry<SnapshotDeleter>('snapshot backups', {
    postgresql: () => new RdsSnapshotDeleter(rds()),
  });
