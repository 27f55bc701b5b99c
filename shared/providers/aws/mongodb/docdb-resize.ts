import { ModifyDBInstanceCommand } from '@aws-sdk/client-docdb';
import { ProviderError } from '../../../errors.ts';
import type { ResizeRequest, ResizeState } from '../../../ports/engine-provider.ts';
import { toPlatformError } from '../aws-errors.ts';
import type { DocdbClusters, DocdbSend } from './docdb-clusters.ts';

const classOf = (change: ResizeRequest): string => {
  if (!change.plan) {
    throw new ProviderError(
      'MongoDB addons on DocumentDB change their plan only (storage grows by itself; replicas span zones)',
      'Unsupported',
    );
  }
  return change.plan.instanceClass;
};

/**
 * A plan change of the addon's DocumentDB cluster: ModifyDBInstance with the plan's class on each
 * of its instances, applied at once (DocumentDB fails over to a reader while the writer restarts,
 * where there is one). Idempotent: instances already on the class, or with it pending, are skipped.
 */
export const resizeDocdbCluster = async (
  docdb: DocdbSend,
  clusters: DocdbClusters,
  resourceId: string,
  change: ResizeRequest,
): Promise<void> => {
  const instanceClass = classOf(change);
  const cluster = await clusters.find(resourceId);
  if (!cluster) throw new ProviderError(`The DocumentDB cluster ${resourceId} does not exist`, 'NotFound');
  for (const instance of await clusters.instancesOf(cluster)) {
    if (instance.DBInstanceClass === instanceClass) continue;
    if (instance.PendingModifiedValues?.DBInstanceClass === instanceClass) continue;
    try {
      await docdb(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: instance.DBInstanceIdentifier,
          DBInstanceClass: instanceClass,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      throw toPlatformError(
        error,
        `modifying the class of DocumentDB instance ${instance.DBInstanceIdentifier}`,
      );
    }
  }
};

/** Applied once every instance of the cluster is `available` on the plan's class. */
export const describeDocdbResize = async (
  clusters: DocdbClusters,
  resourceId: string,
  change: ResizeRequest,
): Promise<ResizeState> => {
  const instanceClass = classOf(change);
  const cluster = await clusters.find(resourceId);
  if (!cluster) return { status: 'failed', reason: `The DocumentDB cluster ${resourceId} no longer exists` };
  const instances = await clusters.instancesOf(cluster);
  const done =
    instances.length > 0 &&
    instances.every(
      (instance) =>
        instance.DBInstanceStatus === 'available' &&
        instance.DBInstanceClass === instanceClass &&
        !instance.PendingModifiedValues?.DBInstanceClass,
    );
  return done ? { status: 'applied' } : { status: 'applying' };
};
