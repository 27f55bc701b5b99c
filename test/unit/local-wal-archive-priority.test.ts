import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { InstanceContext } from '#infra/local/engines/driver.ts';
import { archiveSettings } from '#infra/local/engines/postgresql/wal-archive.ts';
import { BACKGROUND_NICENESS } from '#infra/local/priority.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the WAL archive command', () => {
  it('runs below the platform and the customers, as the other background work', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wal-priority-'));
    dirs.push(dataDir);
    const ctx = { resourceId: 'addon-priority', dataDir, runAs: undefined } as unknown as InstanceContext;
    const settings = await archiveSettings(
      ctx,
      { client: undefined as never, endpoint: 'http://127.0.0.1:9', bucket: 'b', prefix: 'pitr/' },
      undefined,
    );
    const command = settings.find((setting) => setting.startsWith('archive_command='));
    expect(command).toMatch(
      new RegExp(
        `^archive_command=/(usr/)?bin/nice -n ${BACKGROUND_NICENESS} ${process.execPath} --no-warnings `,
      ),
    );
    expect(command).toMatch(/ %p %f$/);
  });
});
