import { capabilitiesOf, upgradeTargets } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import { ConflictError, UnsupportedError } from '../errors.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Backup, CreateBackupRequest } from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { newId } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { newBackupRecord, toBackup } from './backup-records.ts';
import { failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';

export interface UpgradeServiceDeps {
  store: AddonStore;
  backups: BackupStore;
  artifacts: Pick<BackupArtifacts, 'artifactFor'>;
  workflows: WorkflowStarter;
  target: Target;
}

const FIELD = 'body.version';

/**
 * Engine version upgrades (`POST .../upgrade`). Only the catalog's upgrade targets of the addon's
 * version are accepted (the next major, one at a time; never a downgrade or a skip): anything else
 * is a 422 naming `body.version` and the allowed versions. The upgrade-addon workflow takes a
 * backup first, a storage snapshot where the engine has them here, else a dump; it is recorded
 * pinned (retention never deletes it) with `source: upgrade`, and the operation names it
 * (`backupId`) as the way back.
 */
export class UpgradeService {
  constructor(private readonly deps: UpgradeServiceDeps) {}

  async upgrade(
    projectId: string,
    addonId: string,
    version: string,
  ): Promise<{ addon: Addon; operation: Operation; backup: Backup }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const name = engineFacts(addon.engine).catalog.displayName;
    if (!capabilitiesOf(addon.engine, this.deps.target).upgrade) {
      throw new UnsupportedError(
        `${name} addons cannot be upgraded on this deployment (capability upgrade is off; see the catalog notes)`,
        [{ path: FIELD, message: `upgrades are not available for ${addon.engine} here` }],
      );
    }
    const allowed = upgradeTargets(addon.engine, this.deps.target, addon.version);
    if (!allowed.includes(version)) {
      const targets = `${name} ${addon.version} upgrades to ${allowed.length ? allowed.join(' or ') : 'no other version here'}`;
      const why = version === addon.version ? `the addon already runs it; ${targets}` : targets;
      throw new UnsupportedError(`Cannot upgrade to ${name} ${version}: ${why}`, [
        {
          path: FIELD,
          message: allowed.length
            ? `must be one of ${allowed.join(', ')}`
            : 'this version has no upgrade target',
        },
      ]);
    }
    if (addon.status !== 'running' && !addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can be upgraded`,
      );
    }
    const request: CreateBackupRequest = capabilitiesOf(addon.engine, this.deps.target).snapshotBackup
      ? { type: 'snapshot', pinned: true }
      : { type: 'dump', compression: 'zstd', pinned: true };
    if (request.type === 'dump' && !capabilitiesOf(addon.engine, this.deps.target).dumpBackup) {
      throw new UnsupportedError(`${name} addons cannot be backed up before an upgrade on this deployment`, [
        { path: FIELD, message: 'no backup kind is available to take before the upgrade' },
      ]);
    }
    const backupId = newId('bkp');
    const operation: Operation = {
      ...newOperation('upgrade', projectId, addonId),
      backupId,
      upgrade: { fromVersion: addon.version, toVersion: version },
    };
    // The lock first: a refused upgrade (409) leaves no backup record behind.
    const started = await this.deps.store.beginOperation(addon, operation, 'upgrading');
    let backup: BackupRecord | undefined;
    try {
      backup = {
        ...newBackupRecord({
          addon,
          backupId,
          operationId: operation.id,
          request,
          artifacts: this.deps.artifacts,
          now: new Date(),
        }),
        source: 'upgrade',
      };
      await this.deps.backups.putBackup(backup);
      await this.deps.workflows.start({
        workflow: 'upgrade-addon',
        input: { projectId, addonId, operationId: operation.id, backupId, version },
      });
    } catch (error) {
      if (backup) {
        await this.deps.backups
          .updateBackup(backup, {
            status: 'failed',
            error: { code: 'UpgradeStartFailed', message: 'The upgrade did not start' },
          })
          .catch(() => undefined);
      }
      await failOperationAndRelease(
        this.deps.store,
        started,
        operation.id,
        {
          code: 'UpgradeStartFailed',
          message: `The upgrade could not be started: ${userFacingMessage(error)}`,
        },
        'running',
      );
      throw error;
    }
    return { addon: toAddon(started), operation, backup: toBackup(backup) };
  }
}
