import { createHash } from 'node:crypto';

/**
 * ElastiCache identifiers of one Redis addon. A replication group id is at most 40 characters
 * (lowercase letters, digits, hyphens, starting with a letter, no `--`, no trailing hyphen),
 * shorter than the 63 of `resourceIdFor`. Every id here is derived from the addon's resource id
 * alone (and, for a restore, the restore id), so a retried or restarted call finds what the
 * first one created: no record is needed to find them.
 */
export const MAX_GROUP_ID = 40;

const hash = (text: string, length: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, length);

/**
 * The addon's base id: its resource id when that fits in 30 characters (room for a restore's
 * `-r<8 hex>`), else a 21-character prefix plus a hash of the whole resource id, so two long ids
 * with the same prefix stay apart. It names the first replication group, the user group and
 * (with a suffix) the users.
 */
export const baseIdOf = (resourceId: string): string => {
  const id = resourceId.toLowerCase();
  if (id.length <= 30) return id;
  return `${id.slice(0, 21).replace(/-+$/, '')}-${hash(id, 8)}`;
};

/** The replication group a restore creates: base + `-r` + 8 hex of the restore id (<= 40). */
export const restoredGroupIdOf = (resourceId: string, restoreId: string): string =>
  `${baseIdOf(resourceId)}-r${hash(restoreId, 8)}`;

/** The addon's RBAC user (the `default` user every user group needs is the deployment's, switched off). */
export const customerUserIdOf = (resourceId: string): string => `${baseIdOf(resourceId)}-app`;

/** The addon's user group: one per addon, shared by every replication group it ever has. */
export const userGroupIdOf = (resourceId: string): string => baseIdOf(resourceId);

/** The export bucket's prefix of imported RDB files (the workflow function may write there only). */
export const REDIS_IMPORTS_PREFIX = 'imports/';

/** ElastiCache's rules for a replication group id (and the user group ids built the same way). */
export const isValidGroupId = (id: string): boolean =>
  /^[a-z][a-z0-9-]*$/.test(id) && id.length <= MAX_GROUP_ID && !id.includes('--') && !id.endsWith('-');

/**
 * Tags only this engine sets. On the user group: which replication group the addon currently
 * answers on, and the one a restore replaced (deleted after the switch). Switching is one
 * AddTagsToResource call that sets both, so it is atomic.
 */
export const REDIS_TAG_KEYS = {
  currentGroup: 'addons:current-group',
  previousGroup: 'addons:previous-group',
  /** On a snapshot: `<bucket>/<target name>` of the export asked for at creation. */
  exportTo: 'addons:export-to',
  /** On a snapshot: the exported RDB's SHA-256, once computed (so it is computed once). */
  exportSha256: 'addons:export-sha256',
} as const;
