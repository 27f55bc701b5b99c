import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineDirLeftovers, SecretFileLeftovers, SnapshotDirLeftovers } from '#infra/local/leftovers.ts';

const ADDON = 'adn-01abcdefghjkmnpqrstvwxyz0';
const RESOURCE = 'addon-01abcdefghjkmnpqrstvwxyz0';
const SNAPSHOT = `${RESOURCE}-bkp-01cccc`;
let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-local-leftovers-'));
});
afterEach(async () => rm(dataDir, { recursive: true, force: true }));

describe('local leftover sources', () => {
  it('list one snapshot per id, as young as its newest attempt, and skip deletions in progress', async () => {
    // Prepare
    const snapshots = join(dataDir, 'snapshots');
    const old = new Date(Date.now() - 86_400_000);
    await mkdir(join(snapshots, SNAPSHOT), { recursive: true });
    await utimes(join(snapshots, SNAPSHOT), old, old);
    await mkdir(join(snapshots, `.partial.${SNAPSHOT}.0a1b2c3d`));
    await mkdir(join(snapshots, `.deleting.${RESOURCE}-bkp-01dddd.0a1b2c3d`));
    await mkdir(join(snapshots, 'not-a-backup'));
    const deleted: string[] = [];
    const source = new SnapshotDirLeftovers({
      dataDir,
      snapshots: { deleteSnapshot: async (id) => void deleted.push(id) },
    });

    // Act
    const listed = await source.list();
    await source.remove(
      listed[0] ?? { kind: 'snapshot-dir', id: 'none', owner: { kind: 'addon', addonId: '' } },
    );

    // Assess
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      id: SNAPSHOT,
      owner: { kind: 'backup', addonId: ADDON, backupId: 'bkp-01cccc' },
    });
    expect((listed[0]?.createdAt?.getTime() ?? 0) > old.getTime()).toBe(true);
    expect(deleted).toEqual([SNAPSHOT]);
  });

  it('name the addon of engine directories and secret files, and nothing else', async () => {
    // Prepare
    await mkdir(join(dataDir, 'engines', RESOURCE), { recursive: true });
    await mkdir(join(dataDir, 'engines', 'scratch'), { recursive: true });
    await mkdir(join(dataDir, 'secrets', 'p1'), { recursive: true });
    await writeFile(join(dataDir, 'secrets', 'p1', `${ADDON}.json`), '{}');
    await writeFile(join(dataDir, 'secrets', 'p1', 'notes.txt'), '');

    // Act
    const engines = await new EngineDirLeftovers({
      dataDir,
      engines: { deleteInstance: async () => undefined },
    }).list();
    const secrets = await new SecretFileLeftovers({ secretsDir: join(dataDir, 'secrets') }).list();

    // Assess
    expect(engines.map((leftover) => [leftover.id, leftover.owner])).toEqual([
      [RESOURCE, { kind: 'addon', addonId: ADDON }],
    ]);
    expect(secrets.map((leftover) => leftover.owner)).toEqual([{ kind: 'addon', addonId: ADDON }]);
  });
});
