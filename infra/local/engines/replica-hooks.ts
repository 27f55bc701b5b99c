import type {
  EngineProvider,
  Login,
  ResizeRequest,
  SnapshotProvider,
  UpgradeSpec,
  UpgradeState,
} from '#shared/ports/engine-provider.ts';
import type { NetworkingSettings } from '#shared/schemas/networking.ts';
import type { LocalReplicas } from './replicas.ts';

/**
 * The instance provider with its replicas removed before the instance is deleted (a delete of the
 * addon, or of a leftover), so no replica process outlives its primary; restarted after a plan
 * change, so they run with the primary's new limits, and after a networking change, so they serve
 * and follow with TLS as the primary now does; given the customer's logins after each step of a
 * credential rotation where the engine does not replicate them.
 */
export const withReplicaCleanup = <P extends EngineProvider>(provider: P, replicas: LocalReplicas): P =>
  Object.assign(Object.create(provider) as P, {
    deleteInstance: async (resourceId: string) => {
      await replicas.removeAll(resourceId);
      await provider.deleteInstance(resourceId);
    },
    ...(provider.resize
      ? {
          resize: async (resourceId: string, change: ResizeRequest) => {
            await provider.resize?.(resourceId, change);
            if (change.plan) await replicas.restartAll(resourceId);
          },
        }
      : {}),
    ...(provider.configureNetworking
      ? {
          configureNetworking: async (resourceId: string, networking: NetworkingSettings) => {
            const applied = await provider.configureNetworking?.(resourceId, networking);
            await replicas.restartAll(resourceId);
            return applied;
          },
        }
      : {}),
    ...(provider.addLogin
      ? {
          addLogin: async (resourceId: string, current: Login, password: string) => {
            const login = await provider.addLogin?.(resourceId, current, password);
            await replicas.syncLogins(resourceId);
            return login;
          },
        }
      : {}),
    ...(provider.retainOnlyLogin
      ? {
          retainOnlyLogin: async (resourceId: string, login: { username: string; password: string }) => {
            await provider.retainOnlyLogin?.(resourceId, login);
            await replicas.syncLogins(resourceId);
          },
        }
      : {}),
    ...(provider.describeUpgrade
      ? {
          describeUpgrade: async (resourceId: string, upgrade: UpgradeSpec) => {
            const state = (await provider.describeUpgrade?.(resourceId, upgrade)) as UpgradeState;
            if (state.status !== 'available') return state;
            return (await replicas.reseedInBackground(resourceId)) ? state : { status: 'upgrading' };
          },
        }
      : {}),
    ...(provider.discardUpgrade
      ? {
          discardUpgrade: async (resourceId: string, upgrade: UpgradeSpec) => {
            const outcome = (await provider.discardUpgrade?.(resourceId, upgrade)) as
              | 'discarded'
              | 'completed';
            await replicas.reseedStale(resourceId);
            return outcome;
          },
        }
      : {}),
  });

/**
 * The snapshot provider with the replicas seeded again once a restore replaced the primary's data
 * (a snapshot, a point in time, an uploaded file): `describeRestore` reports `available` only after
 * every replica follows the restored primary (until then `restoring`: the re-seed runs in the
 * background, so each describe stays short whatever the data's size), and `discardRestore` (the workflow's compensation, an
 * import's abort) after they follow the data put back, where the rollback had switched. Replicas
 * that still follow the primary are left alone, so a restore that failed early costs nothing.
 */
export const withReplicaReseed = <S extends SnapshotProvider>(snapshots: S, replicas: LocalReplicas): S =>
  Object.assign(Object.create(snapshots) as S, {
    describeRestore: async (resourceId: string, snapshotId: string, restoreId: string) => {
      const state = await snapshots.describeRestore(resourceId, snapshotId, restoreId);
      if (state.status !== 'available') return state;
      return (await replicas.reseedInBackground(resourceId)) ? state : { status: 'restoring' };
    },
    discardRestore: async (resourceId: string, snapshotId: string, restoreId: string) => {
      const outcome = await snapshots.discardRestore(resourceId, snapshotId, restoreId);
      await replicas.reseedStale(resourceId);
      return outcome;
    },
  });
