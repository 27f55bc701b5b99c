import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import type { Backup, CreateBackupRequest, Schedule } from '../schemas/backup.ts';
import type { AddonRecord } from '../store/addon-store.ts';
import type { BackupRecord } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the API shows of a backup record. */
export const toBackup = ({ artifact: _artifact, snapshotId: _snapshotId, ...backup }: BackupRecord): Backup =>
  backup;

/** A backup record as it starts: pending, its data located (S3 key or snapshot id), its expiry set. */
export const newBackupRecord = (args: {
  addon: AddonRecord;
  backupId: string;
  operationId: string;
  request: CreateBackupRequest;
  schedule?: Schedule;
  final?: boolean;
  artifacts: Pick<BackupArtifacts, 'artifactFor'>;
  now: Date;
}): BackupRecord => {
  const { addon, backupId, request, schedule } = args;
  const ref = { projectId: addon.projectId, addonId: addon.id, backupId };
  return {
    id: backupId,
    projectId: addon.projectId,
    addonId: addon.id,
    type: request.type,
    compression: request.type === 'dump' ? request.compression : null,
    status: 'pending',
    source: args.final ? 'final' : schedule ? 'schedule' : 'manual',
    scheduleId: schedule?.id ?? null,
    engine: addon.engine,
    engineVersion: addon.version,
    sizeBytes: null,
    sha256: null,
    pinned: request.pinned,
    expiresAt: schedule ? new Date(args.now.getTime() + schedule.retentionDays * DAY_MS).toISOString() : null,
    operationId: args.operationId,
    addonName: addon.name,
    addonDeleted: false,
    addonDeletedAt: null,
    error: null,
    createdAt: nowIso(),
    startedAt: null,
    completedAt: null,
    artifact: request.type === 'dump' ? args.artifacts.artifactFor(ref, request.compression) : null,
    snapshotId: request.type === 'snapshot' ? `${addon.resourceId}-${backupId}`.slice(0, 255) : null,
  };
};
