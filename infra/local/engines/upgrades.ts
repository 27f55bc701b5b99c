import path from 'node:path';
import { UnsupportedError } from '#shared/errors.ts';
import type { UpgradeSpec, UpgradeState } from '#shared/ports/engine-provider.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles } from './instance-files.ts';
import { instanceUser } from './os-users.ts';
import { type RestoreSource, type SnapshotRestores, upgradeKey } from './snapshot-restore.ts';

export interface LocalUpgradesOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  restores: SnapshotRestores;
}

/**
 * Version upgrades on the local target, for engines whose driver has `upgrades`: the driver copies
 * the running instance into a staging data directory of the new major, and the restore mechanics
 * (snapshot-restore.ts) swap it in under the instance's lock, crash-safe: killed at any point, the
 * instance comes back on its old data directory and version (rolled back) or on the new ones
 * (committed), never between. Progress and rollback go through `describe` and `discard` with
 * `upgradeKey(version)` where a restore has its snapshot id.
 */
export class LocalUpgrades {
  constructor(private readonly deps: LocalUpgradesOptions) {}

  async upgrade(resourceId: string, { version, upgradeId }: UpgradeSpec): Promise<void> {
    const id = checkId(resourceId);
    await this.deps.restores.restore(id, upgradeKey(version), upgradeId, this.source(version));
  }

  async describe(resourceId: string, { version, upgradeId }: UpgradeSpec): Promise<UpgradeState> {
    const state = await this.deps.restores.describe(checkId(resourceId), upgradeKey(version), upgradeId);
    return state.status === 'restoring' ? { status: 'upgrading' } : state;
  }

  discard(resourceId: string, { version, upgradeId }: UpgradeSpec): Promise<'discarded' | 'completed'> {
    return this.deps.restores.discard(checkId(resourceId), upgradeKey(version), upgradeId);
  }

  private source(version: string): RestoreSource {
    const { files, drivers } = this.deps;
    return {
      version,
      check: async (id, record) => {
        const upgrades = drivers.driverFor(record.engine).upgrades;
        const name = drivers.driverFor(record.engine).displayName;
        if (!upgrades) {
          return { code: 'UpgradeNotSupported', reason: `${name} has one version installed locally` };
        }
        const majors = await upgrades.majors();
        if (!majors.includes(version)) {
          return {
            code: 'UpgradeNotSupported',
            reason: `${name} ${version} is not installed locally (${majors.join(', ')} are)`,
          };
        }
        const current = await drivers
          .snapshotsOf(record.engine)
          .dataMajor(files.context(id, record, undefined).dataDir)
          .catch(() => record.version);
        if (current === version) {
          return { code: 'AlreadyUpgraded', reason: `Instance ${id} already runs ${name} ${version}` };
        }
        return undefined;
      },
      prepare: async (target, signal) => {
        const upgrades = drivers.driverFor(target.record.engine).upgrades;
        if (!upgrades) throw new UnsupportedError('This engine cannot be upgraded locally');
        const previous = target.record.restore?.previousDataDir ?? 'data';
        const runAs = await instanceUser(target.resourceId);
        const source = files.context(
          target.resourceId,
          { ...target.record, dataDir: path.basename(previous) },
          runAs,
        );
        await upgrades.prepare(source, target, version, signal);
      },
    };
  }
}
