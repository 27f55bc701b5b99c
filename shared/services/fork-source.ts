import { addonType, hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { type FieldIssue, UnsupportedError, ValidationError } from '../errors.ts';
import { resourceIdFor, type SnapshotProvider } from '../ports/engine-provider.ts';
import {
  type AddonSource,
  type CreateAddonRequest,
  type ForkSourceRequest,
  forkOriginOf,
} from '../schemas/addon.ts';
import type { Engine, Target } from '../schemas/catalog.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { compareVersions } from '../util/versions.ts';
import { databaseOf } from './credentials.ts';

export interface ForkSourceDeps {
  store: Pick<AddonStore, 'findAddon'>;
  backups: Pick<BackupStore, 'findBackup' | 'listAllBackupsOfAddon'>;
  target: Target;
  /** Where a point-in-time fork asks for the source's restorable window; none: such forks are refused. */
  windows?: EngineRegistry<SnapshotProvider>;
}

/** A fork's source as checked, and what the new addon takes from it unless the request says otherwise. */
export interface ResolvedFork {
  source: AddonSource;
  defaults: { version: string; plan?: string; storageGiB?: number };
  /** The source's storage, when known (a snapshot restores into at least as much). */
  sourceStorageGiB?: number;
}

/** The source addon as the fork sees it: the live record, or what its backups remember of a deleted one. */
interface SourceFacts {
  addonId: string;
  name: string;
  engine: Engine;
  version: string;
  plan?: string;
  storageGiB?: number;
  database: string;
  deleted: boolean;
}

const issue = (path: string, message: string): FieldIssue => ({ path: `body.source.${path}`, message });

const refuse = (message: string, path: string, detail: string): never => {
  throw new UnsupportedError(message, [issue(path, detail)]);
};

/**
 * Check a fork request and find what it forks. Every lookup is scoped to the caller's project, so
 * an addon or backup of another project is answered exactly like one that does not exist: the
 * response never tells whether it exists elsewhere (the same rule as every other route).
 */
export const resolveForkSource = async (
  deps: ForkSourceDeps,
  projectId: string,
  request: CreateAddonRequest & { source: ForkSourceRequest },
): Promise<ResolvedFork> => {
  const { source: wanted } = request;
  const kinds = (['backupId', 'latest', 'pointInTime'] as const).filter((key) => wanted[key] !== undefined);
  if (kinds.length !== 1) {
    throw new ValidationError('A fork source names exactly one of backupId, latest or pointInTime', [
      {
        path: 'body.source',
        message: kinds.length
          ? `give only one of ${kinds.join(', ')}`
          : 'give backupId, latest or pointInTime',
      },
    ]);
  }
  const facts = await sourceFacts(deps, projectId, wanted.addonId);
  const name = engineFacts(facts.engine).catalog.displayName;
  if (request.engine !== facts.engine) {
    throw new UnsupportedError(`A fork has its source's engine: ${name}`, [
      {
        path: 'body.engine',
        message: `the source addon runs ${facts.engine}; a fork cannot change the engine`,
      },
    ]);
  }
  if (!hasCapability(facts.engine, deps.target, 'fork')) {
    const why = addonType(facts.engine, deps.target).notes.find((note) => /fork/i.test(note));
    refuse(
      `${name} addons cannot be forked on this deployment${why ? `: ${why}` : ''}`,
      'addonId',
      `forks are not available for ${facts.engine} here`,
    );
  }
  let backup: BackupRecord | undefined;
  if (wanted.backupId !== undefined) backup = await chosenBackup(deps, projectId, facts, wanted.backupId);
  else if (wanted.latest) backup = await latestBackup(deps, projectId, facts);
  else await checkPointInTime(deps, facts, wanted.pointInTime as string);

  const sourceVersion = backup?.engineVersion ?? facts.version;
  const version = request.version ?? sourceVersion;
  const order = compareVersions(version, sourceVersion);
  if (order < 0) {
    throw new UnsupportedError(`A fork cannot run an older major than its source's data`, [
      {
        path: 'body.version',
        message: `the source's data is ${name} ${sourceVersion}; choose ${sourceVersion} or newer`,
      },
    ]);
  }
  if (order > 0 && backup?.type !== 'dump') {
    throw new UnsupportedError('A fork from a snapshot or a point in time keeps its source major', [
      {
        path: 'body.version',
        message: `physical copies restore into ${name} ${sourceVersion} only (a dump backup can go to a newer major)`,
      },
    ]);
  }
  return {
    source: {
      addonId: facts.addonId,
      addonName: facts.name,
      backupId: backup?.id ?? null,
      backupType: backup?.type ?? null,
      pointInTime: wanted.pointInTime ?? null,
      database: facts.database,
    },
    defaults: {
      version,
      ...(facts.plan ? { plan: facts.plan } : {}),
      ...(facts.storageGiB ? { storageGiB: facts.storageGiB } : {}),
    },
    ...(facts.storageGiB ? { sourceStorageGiB: facts.storageGiB } : {}),
  };
};

/**
 * The live addon, or a deleted one whose backups are still kept (they outlive it for the grace
 * period: addon-retirement.ts). Neither: the same answer whether it never existed, was deleted
 * past its grace period, or belongs to another project.
 */
const sourceFacts = async (
  deps: ForkSourceDeps,
  projectId: string,
  addonId: string,
): Promise<SourceFacts> => {
  const addon = await deps.store.findAddon(projectId, addonId);
  if (addon && addon.status !== 'deleting') {
    return {
      addonId,
      name: addon.name,
      engine: addon.engine,
      version: addon.version,
      plan: addon.plan,
      storageGiB: addon.storageGiB,
      database: addon.source?.database ?? databaseOf(addon.engine, addon.name),
      deleted: false,
    };
  }
  const backups = await deps.backups.listAllBackupsOfAddon(projectId, addonId);
  const remembered = backups.find((backup) => backup.addonName) ?? backups[0];
  if (!remembered) {
    return refuse(
      `No addon ${addonId} in this project to fork (a deleted addon can be forked while its backups are kept)`,
      'addonId',
      'no such addon in this project, nor backups of one deleted within its grace period',
    );
  }
  const name = remembered.addonName ?? addonId;
  return {
    addonId,
    name,
    engine: remembered.engine,
    version: remembered.engineVersion,
    database: databaseOf(remembered.engine, name),
    deleted: true,
  };
};

const chosenBackup = async (
  deps: ForkSourceDeps,
  projectId: string,
  facts: SourceFacts,
  backupId: string,
): Promise<BackupRecord> => {
  const backup = await deps.backups.findBackup(projectId, backupId);
  if (!backup || backup.addonId !== facts.addonId) {
    return refuse(
      `No backup ${backupId} of addon ${facts.addonId} in this project`,
      'backupId',
      `not a backup of addon ${facts.addonId}`,
    );
  }
  if (backup.status !== 'completed') {
    return refuse(
      `Backup ${backupId} is ${backup.status}; a fork starts from a completed backup`,
      'backupId',
      `is ${backup.status}, not completed`,
    );
  }
  return backup;
};

const latestBackup = async (
  deps: ForkSourceDeps,
  projectId: string,
  facts: SourceFacts,
): Promise<BackupRecord> => {
  const completed = (await deps.backups.listAllBackupsOfAddon(projectId, facts.addonId))
    .filter((backup) => backup.status === 'completed')
    .sort((a, b) => (b.completedAt ?? '').localeCompare(a.completedAt ?? ''));
  const newest = completed[0];
  if (!newest) {
    return refuse(
      `Addon ${facts.addonId} has no completed backup to fork`,
      'latest',
      'the source addon has no completed backup',
    );
  }
  return newest;
};

/**
 * A point in time: the engine must offer PITR here and the source's archive must cover the time
 * (the archive of a deleted addon is kept as long as its provider keeps it).
 */
const checkPointInTime = async (deps: ForkSourceDeps, facts: SourceFacts, time: string): Promise<void> => {
  const name = engineFacts(facts.engine).catalog.displayName;
  const provider = deps.windows?.of(facts.engine);
  if (!hasCapability(facts.engine, deps.target, 'pitr') || (provider && !provider.describeRestorableWindow)) {
    refuse(
      `Point-in-time recovery is not available for ${name} addons on this deployment`,
      'pointInTime',
      `${facts.engine} has no pitr capability here; fork from a backup instead`,
    );
  }
  // Without a window source here (the AWS API function has no RDS client), the workflow's
  // restoreToPointInTime is what refuses a time outside the window, failing the operation.
  if (!provider?.describeRestorableWindow) return;
  const window = await provider.describeRestorableWindow(resourceIdFor(facts.addonId));
  if (!window) {
    return refuse(
      `Addon ${facts.addonId} has no restorable window yet`,
      'pointInTime',
      'the source has no restorable window yet (no base backup archived)',
    );
  }
  const at = Date.parse(time);
  if (!(at >= Date.parse(window.earliestRestorableTime) && at <= Date.parse(window.latestRestorableTime))) {
    refuse(
      `${time} is outside the restorable window ${window.earliestRestorableTime} to ${window.latestRestorableTime}`,
      'pointInTime',
      `must be between ${window.earliestRestorableTime} and ${window.latestRestorableTime}`,
    );
  }
};

/**
 * The fork being seeded from backup `backupId`, if any: such a backup is not deleted (the API
 * refuses, retention waits for the next sweep), so a fork never loses its data mid-seed.
 */
export const forkSeedingFrom = async (
  store: Pick<AddonStore, 'listAddons'>,
  projectId: string,
  backupId: string,
): Promise<AddonRecord | undefined> => {
  let cursor: string | undefined;
  do {
    const page = await store.listAddons(projectId, { limit: 100, ...(cursor ? { cursor } : {}) });
    const seeding = page.items.find(
      (addon) => addon.status === 'creating' && forkOriginOf(addon)?.backupId === backupId,
    );
    if (seeding) return seeding;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return undefined;
};
