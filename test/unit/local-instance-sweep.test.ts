import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '#infra/local/engines/driver.ts';
import { InstanceFiles, RESTORE_SCRATCH_DIR } from '#infra/local/engines/instance-files.ts';

/**
 * What a restore a crash cut short leaves next to an instance's data directory, and what the
 * sweep (at resume, and before the next restore) removes: every data directory but the one in
 * use, and the restore's scratch directory (a point-in-time recovery's WAL copies), never while
 * a restore is recorded as running.
 */
const ID = 'addon-01jtestsweep';
let dataDir: string | undefined;

afterEach(async () => {
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

const instanceWith = async (names: string[]) => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'addons-sweep-'));
  const files = new InstanceFiles(dataDir, () => undefined);
  for (const name of names) await fs.mkdir(path.join(files.dirOf(ID), name), { recursive: true });
  await fs.writeFile(path.join(files.dirOf(ID), RESTORE_SCRATCH_DIR, '000000010000000000000003'), 'wal');
  return files;
};

const record = (restore?: InstanceRecord['restore']): InstanceRecord => ({
  engine: 'postgresql',
  version: '15',
  host: '127.0.0.1',
  port: 5432,
  database: 'ledger',
  username: 'ledger',
  dataDir: 'data-b',
  state: 'ready',
  createdAt: '2026-12-01T00:00:00Z',
  ...(restore ? { restore } : {}),
});

describe('sweeping an instance directory after an interrupted restore', () => {
  it('removes the data directories not in use and the restore scratch directory', async () => {
    const files = await instanceWith(['data', 'data-b', 'data-c', 'run', RESTORE_SCRATCH_DIR]);
    await files.sweepDataDirs(ID, record({ snapshotId: 's', state: 'failed', startedAt: '' }));
    expect((await fs.readdir(files.dirOf(ID))).sort()).toEqual(['data-b', 'run']);
  });

  it('leaves everything while a restore is recorded as running (it may be using them)', async () => {
    const files = await instanceWith(['data-b', 'data-c', RESTORE_SCRATCH_DIR]);
    await files.sweepDataDirs(
      ID,
      record({ snapshotId: 's', state: 'restoring', phase: 'preparing', dataDir: 'data-c', startedAt: '' }),
    );
    expect((await fs.readdir(files.dirOf(ID))).sort()).toEqual(['data-b', 'data-c', RESTORE_SCRATCH_DIR]);
  });
});
