import path from 'node:path';
import type { InstanceRecord } from './driver.ts';
import { restoreIdOf } from './instance-files.ts';

/** `engines/<id>/replicas/<n>/replica.json`: `creating` until seeded and started once. */
export interface ReplicaRecord {
  port: number;
  state: 'creating' | 'ready';
  createdAt: string;
  /** The primary's data it was seeded from (`primaryDataOf`); absent in records older than re-seeding. */
  primaryData?: string;
  /** Being seeded again on its port (the primary's data was replaced): `creating` keeps the replica. */
  reseed?: boolean;
}

/**
 * Which data the primary serves, as far as replicas care: its data directory (a restore, a point
 * in time or an upgrade switches to a new one), and a rolled-back restore whose restored copy
 * the server may have run meanwhile (its replicas may have followed that copy).
 */
export const primaryDataOf = (record: InstanceRecord): string => {
  const restore = record.restore;
  const back = restore?.state === 'failed' && restore.servedRestored ? `@${restoreIdOf(restore)}` : '';
  return `${path.basename(record.dataDir || 'data')}${back}`;
};

/** Whether the replica was seeded from the data its primary serves now. */
export const follows = (replica: ReplicaRecord, primary: InstanceRecord): boolean =>
  replica.primaryData === undefined || replica.primaryData === primaryDataOf(primary);
