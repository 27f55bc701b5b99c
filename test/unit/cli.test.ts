import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration, parseThreshold } from '../../cli/commands/alert-rules.ts';
import { loadSettings } from '../../cli/config.ts';
import { downloadVerified } from '../../cli/download.ts';
import { CliError, EXIT } from '../../cli/exit-codes.ts';
import { table } from '../../cli/output.ts';
import { progressLine } from '../../cli/wait.ts';
import type { Operation } from '../../client/index.ts';

const BODY = Buffer.from('a dump, byte for byte');
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let url: string;
let dir: string;

beforeAll(async () => {
  server = createServer((_request, response) => response.end(BODY));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`;
  dir = await mkdtemp(join(tmpdir(), 'addons-cli-unit-'));
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('CLI download', () => {
  it('keeps the file when its SHA-256 matches', async () => {
    const path = join(dir, 'good.dump');
    expect(await downloadVerified(url, path, SHA)).toBe(BODY.length);
    expect(await readFile(path)).toEqual(BODY);
  });

  it('keeps nothing and fails with the local exit status when the SHA-256 differs', async () => {
    const path = join(dir, 'bad.dump');
    const error = await downloadVerified(url, path, 'f'.repeat(64)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({
      exitCode: EXIT.local,
      message: expect.stringContaining('SHA-256 mismatch'),
    });
    expect((await readdir(dir)).filter((name) => name.startsWith('bad.dump'))).toEqual([]);
  });
});

describe('CLI settings', () => {
  it('takes flags over the environment over the config file', async () => {
    const data = join(dir, 'config');
    await mkdir(data);
    await writeFile(
      join(data, 'cli.json'),
      JSON.stringify({ apiUrl: 'http://file:1', token: 'file-token', project: 'file-project' }),
    );
    const env = { ADDONS_DATA_DIR: data, HOME: data };
    expect(loadSettings({}, env)).toMatchObject({
      apiUrl: 'http://file:1',
      token: 'file-token',
      project: 'file-project',
      configPath: join(data, 'cli.json'),
    });
    expect(
      loadSettings(
        {},
        { ...env, ADDONS_API_URL: 'http://env:2', ADDONS_TOKEN: 'env-token', ADDONS_PROJECT: 'env' },
      ),
    ).toMatchObject({ apiUrl: 'http://env:2', token: 'env-token', project: 'env' });
    expect(
      loadSettings({ apiUrl: 'http://flag:3', project: 'flag' }, { ...env, ADDONS_PROJECT: 'env' }),
    ).toMatchObject({ apiUrl: 'http://flag:3', token: 'file-token', project: 'flag' });
  });

  it('is a usage error without any API URL', () => {
    const error = (() => {
      try {
        loadSettings({}, { ADDONS_DATA_DIR: '/nonexistent', HOME: '/nonexistent' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('ADDONS_API_URL') });
  });
});

describe('CLI output', () => {
  it('aligns table columns under upper-case headers, with - for empty cells', () => {
    expect(
      table(
        [
          { id: 'adn-1', name: 'orders', endpoint: '127.0.0.1:5432' },
          { id: 'adn-22', name: 'x', endpoint: null },
        ],
        ['id', 'name', 'endpoint'],
      ),
    ).toBe(['ID      NAME    ENDPOINT', 'adn-1   orders  127.0.0.1:5432', 'adn-22  x       -'].join('\n'));
  });

  it('draws the progress bar with the step and percent', () => {
    const operation = { status: 'in-progress', progress: { step: 'dump', percent: 50 } } as Operation;
    expect(progressLine(operation)).toBe('[############------------]  50%  dump (in-progress)');
  });
});

describe('CLI alert-rule options', () => {
  it('reads --duration as seconds, or with s, m or h', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('10m')).toBe(600);
    expect(parseDuration('1h')).toBe(3600);
    for (const bad of ['', 'soon', '1.5m', '-5', '10d']) {
      expect(() => parseDuration(bad)).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
    }
  });

  it('reads --threshold as any finite number, and refuses anything else as a usage error', () => {
    expect(parseThreshold('95')).toBe(95);
    expect(parseThreshold('-0.5')).toBe(-0.5);
    expect(parseThreshold('1e3')).toBe(1000);
    for (const bad of ['', ' ', 'high', 'Infinity']) {
      expect(() => parseThreshold(bad)).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
    }
  });
});
