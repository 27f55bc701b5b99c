import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InstanceRecord } from '#infra/local/engines/driver.ts';
import { InstanceFiles } from '#infra/local/engines/instance-files.ts';
import { writeJsonAtomic } from '#infra/local/engines/system.ts';

/**
 * An instance's record (instance.json) as the supervisor reads it: every GET of an addon does, so
 * an unchanged file is not read again (one `stat` says so), and any change to it, through
 * `writeRecord` or by anything else, is what the next read returns.
 */
const ID = 'addon-01jtestrecord';
let dataDir: string | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

const instanceFiles = async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'addons-record-'));
  const files = new InstanceFiles(dataDir, () => undefined);
  await fs.mkdir(files.dirOf(ID), { recursive: true });
  return files;
};

const record = (port: number): InstanceRecord => ({
  engine: 'postgresql',
  version: '15',
  host: '127.0.0.1',
  port,
  database: 'ledger',
  username: 'ledger',
  dataDir: 'data',
  state: 'ready',
  createdAt: '2026-12-01T00:00:00Z',
});

describe('InstanceFiles.readRecord', () => {
  it('reads an unchanged record from the file once, and returns a copy each time', async () => {
    const files = await instanceFiles();
    await files.writeRecord(ID, record(5432));
    const readFile = vi.spyOn(fs, 'readFile');

    const first = await files.readRecord(ID);
    if (!first) throw new Error('no record');
    first.port = 1;
    const second = await files.readRecord(ID);

    expect(second?.port).toBe(5432);
    expect(readFile.mock.calls.filter(([file]) => String(file).endsWith('instance.json'))).toHaveLength(1);
  });

  it('returns what writeRecord wrote last', async () => {
    const files = await instanceFiles();
    await files.writeRecord(ID, record(5432));
    await files.readRecord(ID);
    await files.writeRecord(ID, record(5433));

    expect((await files.readRecord(ID))?.port).toBe(5433);
  });

  it('sees the file replaced by anything else, even with the same size', async () => {
    const files = await instanceFiles();
    await files.writeRecord(ID, record(5432));
    await files.readRecord(ID);
    await writeJsonAtomic(path.join(files.dirOf(ID), 'instance.json'), record(6543));

    expect((await files.readRecord(ID))?.port).toBe(6543);
  });

  it('has no record once the file is gone', async () => {
    const files = await instanceFiles();
    await files.writeRecord(ID, record(5432));
    await files.readRecord(ID);
    await fs.rm(path.join(files.dirOf(ID), 'instance.json'));

    expect(await files.readRecord(ID)).toBeUndefined();
  });

  it('reports a record it cannot parse, and does not keep it', async () => {
    const files = await instanceFiles();
    await fs.writeFile(path.join(files.dirOf(ID), 'instance.json'), '{"engine":');

    await expect(files.readRecord(ID)).rejects.toThrow(/Cannot read .*instance\.json/);
    await writeJsonAtomic(path.join(files.dirOf(ID), 'instance.json'), record(5432));
    expect((await files.readRecord(ID))?.port).toBe(5432);
  });
});
