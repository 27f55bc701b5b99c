import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { CreateAddonRequestSchema } from '#shared/schemas/addon.ts';
import type { Operation } from '#shared/schemas/operation.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import type { BackupRecord, ScheduleRecord } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';

/** Test data comes from the production schemas. */
export const createRequest = (overrides: Record<string, unknown> = {}) =>
  CreateAddonRequestSchema.parse({ name: 'orders-db', engine: 'postgresql', ...overrides });

export const addonRecord = (overrides: Partial<AddonRecord> = {}): AddonRecord => {
  const id = overrides.id ?? newId('adn');
  const now = nowIso();
  return {
    id,
    projectId: 'proj-a',
    name: 'orders-db',
    description: null,
    engine: 'postgresql',
    version: '15',
    plan: 'nano',
    storageGiB: 20,
    replicas: 0,
    multiAz: false,
    tls: false,
    publicAccess: false,
    allowedCidrs: [],
    status: 'creating',
    currentOperationId: null,
    endpoint: null,
    network: null,
    source: null,
    createdAt: now,
    updatedAt: now,
    revision: 1,
    resourceId: resourceIdFor(id),
    ...overrides,
  };
};

export const operation = (overrides: Partial<Operation> & Pick<Operation, 'addonId'>): Operation => ({
  id: newId('op'),
  type: 'create',
  status: 'pending',
  projectId: 'proj-a',
  backupId: null,
  progress: { step: 'queued', percent: 0 },
  error: null,
  createdAt: nowIso(),
  startedAt: null,
  completedAt: null,
  ...overrides,
});

/** A finished backup record (a snapshot unless overridden). */
export const backupRecord = (
  overrides: Partial<BackupRecord> & Pick<BackupRecord, 'addonId'>,
): BackupRecord => {
  const id = overrides.id ?? newId('bkp');
  return {
    id,
    projectId: 'proj-a',
    type: 'snapshot',
    compression: null,
    status: 'completed',
    source: 'manual',
    scheduleId: null,
    engine: 'postgresql',
    engineVersion: '17',
    sizeBytes: 1,
    sha256: null,
    pinned: false,
    expiresAt: null,
    operationId: newId('op'),
    addonName: null,
    addonDeleted: false,
    addonDeletedAt: null,
    error: null,
    createdAt: nowIso(),
    startedAt: null,
    completedAt: nowIso(),
    artifact: null,
    snapshotId: `snap-${id}`,
    ...overrides,
  };
};

/** A finished dump backup record, its artifact in bucket `b`. */
export const dumpBackupRecord = (
  overrides: Partial<BackupRecord> & Pick<BackupRecord, 'addonId'>,
): BackupRecord =>
  backupRecord({
    type: 'dump',
    compression: 'zstd',
    engineVersion: '15',
    sha256: 'a'.repeat(64),
    startedAt: nowIso(),
    artifact: { bucket: 'b', key: 'k' },
    snapshotId: null,
    ...overrides,
  });

/** An enabled daily dump schedule at 03:00 keeping backups 2 days, as the schedules API stores one. */
export const scheduleRecord = (
  overrides: Partial<ScheduleRecord> & Pick<ScheduleRecord, 'projectId' | 'addonId'>,
): ScheduleRecord => {
  const now = nowIso();
  return {
    id: newId('sch'),
    interval: 'daily',
    days: null,
    hours: [3],
    minutes: [0],
    retentionDays: 2,
    type: 'dump',
    compression: 'zstd',
    enabled: true,
    lastRun: null,
    createdAt: now,
    updatedAt: now,
    revision: 1,
    ...overrides,
  };
};
