import fs from 'node:fs/promises';
import path from 'node:path';
import type { EngineProvider, SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { Leftover, LeftoverSource } from '#shared/ports/reconciler.ts';

/** `resourceIdFor`: `addon-` and the addon id without its `adn-` prefix (ids are lower-case base32). */
const RESOURCE_ID = /^addon-([0-9a-z]+)$/;
/** Snapshot ids are `<resource id>-<backup id>` (BackupService.create). */
const SNAPSHOT_ID = /^(addon-[0-9a-z]+)-(bkp-[0-9a-z]+)$/;
/** Snapshot attempts and deletions in progress: `.partial.<id>.<rand>`, `.deleting.<id>.<rand>`. */
const SNAPSHOT_ENTRY = /^(?:\.partial\.)?([^.]+)(?:\.[0-9a-f]+)?$/;
const SECRET_FILE = /^(adn-[0-9a-z]+)\.json(?:\.\d+\.tmp)?$/;

const addonIdOf = (resourceId: string): string | undefined => {
  const match = RESOURCE_ID.exec(resourceId);
  return match?.[1] ? `adn-${match[1]}` : undefined;
};

const modifiedAt = async (file: string): Promise<Date | undefined> =>
  (await fs.stat(file).catch(() => undefined))?.mtime;

const entries = (dir: string) => fs.readdir(dir).catch(() => [] as string[]);

/**
 * Engine instance directories (`engines/<resource id>/`): removed through the supervisor, which
 * stops a server still running there first.
 */
export class EngineDirLeftovers implements LeftoverSource {
  readonly name = 'engine directories';

  constructor(private readonly props: { dataDir: string; engines: Pick<EngineProvider, 'deleteInstance'> }) {}

  async list(): Promise<Leftover[]> {
    const dir = path.join(this.props.dataDir, 'engines');
    const found: Leftover[] = [];
    for (const name of await entries(dir)) {
      const addonId = addonIdOf(name);
      if (!addonId) continue;
      found.push({
        kind: 'engine-dir',
        id: name,
        createdAt: await modifiedAt(path.join(dir, name)),
        owner: { kind: 'addon', addonId },
      });
    }
    return found;
  }

  remove(leftover: Leftover): Promise<void> {
    return this.props.engines.deleteInstance(leftover.id);
  }
}

/** Snapshot directories (`snapshots/<snapshot id>/` and its attempts), owned by their backup. */
export class SnapshotDirLeftovers implements LeftoverSource {
  readonly name = 'snapshot directories';

  constructor(
    private readonly props: { dataDir: string; snapshots: Pick<SnapshotProvider, 'deleteSnapshot'> },
  ) {}

  async list(): Promise<Leftover[]> {
    const dir = path.join(this.props.dataDir, 'snapshots');
    const byId = new Map<string, Leftover>();
    for (const name of await entries(dir)) {
      if (name.startsWith('.deleting.')) continue; // the supervisor finishes these at start
      const snapshotId = SNAPSHOT_ENTRY.exec(name)?.[1];
      const match = snapshotId ? SNAPSHOT_ID.exec(snapshotId) : null;
      const addonId = match?.[1] ? addonIdOf(match[1]) : undefined;
      if (!snapshotId || !match?.[2] || !addonId) continue;
      const createdAt = await modifiedAt(path.join(dir, name));
      const seen = byId.get(snapshotId);
      // The newest entry counts: an attempt in progress keeps the whole snapshot young.
      if (seen?.createdAt && createdAt && seen.createdAt >= createdAt) continue;
      byId.set(snapshotId, {
        kind: 'snapshot-dir',
        id: snapshotId,
        createdAt,
        owner: { kind: 'backup', addonId, backupId: match[2] },
      });
    }
    return [...byId.values()];
  }

  remove(leftover: Leftover): Promise<void> {
    return this.props.snapshots.deleteSnapshot(leftover.id);
  }
}

/** Connection-detail files (`secrets/<project>/<addon id>.json`, and a crash's `.tmp`). */
export class SecretFileLeftovers implements LeftoverSource {
  readonly name = 'secret files';

  constructor(private readonly props: { secretsDir: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    for (const project of await entries(this.props.secretsDir)) {
      const projectDir = path.join(this.props.secretsDir, project);
      for (const name of await entries(projectDir)) {
        const addonId = SECRET_FILE.exec(name)?.[1];
        if (!addonId) continue;
        const file = path.join(projectDir, name);
        found.push({
          kind: 'secret',
          id: file,
          createdAt: await modifiedAt(file),
          owner: { kind: 'addon', addonId },
        });
      }
    }
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    await fs.rm(leftover.id, { force: true });
  }
}
