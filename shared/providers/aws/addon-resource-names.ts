import type { Leftover, LeftoverKind } from '../../ports/reconciler.ts';
import { restoreIdentifiers } from './rds/rds-restore.ts';

/**
 * Who owns an AWS resource the RDS and DocumentDB providers named, as the leftovers sweep reads
 * it from the name alone (the records say whether that owner still exists).
 */

/** `resourceIdFor`: `addon-` and the addon id without `adn-` (ids are lower-case base32). */
const ADDON_RESOURCE = /^addon-([0-9a-z]+)$/;
/** A restore's staging (`-r`) or retired (`-o`) copy: `restoreIdentifiers`. */
const RESTORE_COPY = /^(addon-[0-9a-z]+)-[ro][0-9a-f]{8}$/;
/** A read replica of an addon's instance: `<resource id>-replica-<n>` (rds-replicas.ts). */
const REPLICA = /^(addon-[0-9a-z]+)-replica-([1-9][0-9]*)$/;
/** Snapshot backups: `<resource id>-<backup id>` (BackupService.create). */
const SNAPSHOT = /^(addon-[0-9a-z]+)-(bkp-[0-9a-z]+)$/;

export const addonIdOf = (resourceId: string): string | undefined => {
  const match = ADDON_RESOURCE.exec(resourceId);
  return match?.[1] ? `adn-${match[1]}` : undefined;
};

/** The backup a snapshot named `<resource id>-<backup id>` belongs to; undefined for other names. */
export const snapshotOwnerOf = (snapshotId: string): { addonId: string; backupId: string } | undefined => {
  const match = SNAPSHOT.exec(snapshotId);
  const addonId = match?.[1] ? addonIdOf(match[1]) : undefined;
  return match?.[2] && addonId ? { addonId, backupId: match[2] } : undefined;
};

/**
 * Leftover candidates among resources restored by rename swaps (RDS instances, DocumentDB
 * clusters): an addon's own resource, one of its read replicas, or a restore's staging or retired
 * copy, owned by the restore that made it while it runs. Other names are not ours and are skipped.
 */
export const renameSwapLeftovers = (
  kind: LeftoverKind,
  resources: { id: string; createdAt: Date }[],
): Leftover[] => {
  const ids = new Set(resources.map((resource) => resource.id));
  const found: Leftover[] = [];
  for (const { id, createdAt } of resources) {
    const addonId = addonIdOf(id);
    if (addonId) {
      found.push({ kind, id, createdAt, owner: { kind: 'addon', addonId } });
      continue;
    }
    const replica = REPLICA.exec(id);
    const replicaOf = replica?.[1] ? addonIdOf(replica[1]) : undefined;
    if (replicaOf) {
      found.push({
        kind,
        id,
        createdAt,
        owner: { kind: 'replica', addonId: replicaOf, number: Number(replica?.[2]) },
      });
      continue;
    }
    const primary = RESTORE_COPY.exec(id)?.[1];
    const primaryAddon = primary ? addonIdOf(primary) : undefined;
    if (!primary || !primaryAddon) continue;
    found.push({
      kind,
      id,
      createdAt,
      owner: {
        kind: 'restore-copy',
        addonId: primaryAddon,
        isCopyFor: (operationId) => {
          const { staging, retired } = restoreIdentifiers(primary, operationId);
          return id === staging || id === retired;
        },
        primaryPresent: ids.has(primary),
      },
    });
  }
  return found;
};
