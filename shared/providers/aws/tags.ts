/**
 * Tags on everything the AWS providers create. IAM conditions match `addons:deployment` (a
 * second stack in the same account cannot touch what this one created), and the reconciler
 * finds leftovers by it.
 */
export const TAG_KEYS = {
  deployment: 'addons:deployment',
  project: 'addons:project',
  addon: 'addons:addon',
  /** On an instance restored from a snapshot: the restore (operation id) that created it. */
  restore: 'addons:restore',
  /** On a snapshot: the DB instance it was taken from. */
  source: 'addons:source',
  /** On a security group: what it is for (`project-clients`; addon groups carry `addons:addon` instead). */
  role: 'addons:role',
} as const;

/** Every tag key the providers set starts with this: IAM limits request tags (`aws:TagKeys`) to it. */
export const TAG_KEY_PREFIX = 'addons:';

export const PROJECT_CLIENTS_ROLE = 'project-clients';
