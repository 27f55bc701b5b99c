import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { buildScriptBundle } from '../../job-bundle.ts';
import { BACKGROUND_NICENESS, niced } from '../../priority.ts';
import type { InstanceContext } from '../driver.ts';
import { chownTo, findExecutable, type RunAs, readFileNoFollow } from '../system.ts';

/**
 * The continuous archive of a local PostgreSQL instance in the object store (the S3 emulator):
 *
 *   <prefix><resourceId>/<generation>/wal/<segment or NNNNNNNN.history>   archive_command uploads
 *   <prefix><resourceId>/<generation>/base/<name>/base.tar.zst ...        base backups
 *   <prefix><resourceId>/<generation>/base/<name>/backup.json             written last: the commit
 *
 * A generation is one linear history of one data directory. Its id lives in a file in the data
 * directory, so it follows that directory: a restore (of a snapshot or to a point in time) writes a
 * new one, since the restored server writes WAL whose names the old history already used, and a
 * rolled-back restore leaves the previous directory, with its own generation, in place.
 */

/** Where the archive goes; without one, instances are not archived and point-in-time restores are refused. */
export interface WalArchiveTarget {
  client: S3Client;
  /** The S3 emulator's URL, for archive_command (a separate process). */
  endpoint: string;
  bucket: string;
  /** Key prefix, ending in '/'. */
  prefix: string;
  /**
   * Where the archive command is bundled (a directory every engine user can read: the servers run
   * it); without one, or when esbuild cannot bundle it, it runs from its sources through tsx.
   */
  commandDir?: string;
}

/** Settings read from the environment (documented in the README). */
export const pitrSettings = () => ({
  /** How far back a restore can go: base backups and WAL older than this are deleted. */
  retentionDays: positive(process.env.ADDONS_PITR_RETENTION_DAYS, 7),
  /** A WAL segment is archived at least this often while the instance writes: the window's end lags by at most this. */
  archiveTimeoutSeconds: Math.max(
    1,
    Math.round(positive(process.env.ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS, 60)),
  ),
  /** A new base backup once the newest is this old (recovery replays the WAL since the base backup). */
  baseBackupHours: positive(process.env.ADDONS_PITR_BASE_BACKUP_HOURS, 24),
});

const positive = (value: string | undefined, fallback: number): number => {
  const parsed = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
};

export const GENERATION_FILE = 'addons_wal_generation';
const GENERATION = /^g\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** The archive generation of a data directory, or undefined when it has none (yet). */
export const readGeneration = async (dataDir: string): Promise<string | undefined> => {
  const text = await readFileNoFollow(path.join(dataDir, GENERATION_FILE)).catch(() => undefined);
  const generation = text?.trim();
  return generation && GENERATION.test(generation) ? generation : undefined;
};

/** Start a new archive generation for `dataDir` (its WAL from now on is a new history). */
export const writeGeneration = async (dataDir: string, runAs: RunAs | undefined): Promise<string> => {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const generation = `g${stamp}-${randomBytes(4).toString('hex')}`;
  const file = path.join(dataDir, GENERATION_FILE);
  await fs.rm(file, { force: true });
  await fs.writeFile(file, `${generation}\n`, { mode: 0o600 });
  await chownTo(file, runAs);
  return generation;
};

export const generationPrefix = (target: WalArchiveTarget, resourceId: string, generation: string): string =>
  `${target.prefix}${resourceId}/${generation}/`;

export const instancePrefix = (target: WalArchiveTarget, resourceId: string): string =>
  `${target.prefix}${resourceId}/`;

/** pg_waldump of `major`, which archive_command uses to read commit times; undefined when missing. */
export const waldumpTool = (major: string): Promise<string | undefined> =>
  findExecutable('pg_waldump', [`/usr/lib/postgresql/${major}/bin/pg_waldump`]);

/** tsx by absolute URL: archive_command runs in the data directory, where no node_modules is. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const COMMAND = fileURLToPath(new URL('./wal-archive-command.ts', import.meta.url));

/**
 * How `node` runs the archive command: bundled by esbuild (once per platform process), or from its
 * sources through tsx when it cannot be. PostgreSQL starts it once per 16 MB WAL segment: through
 * tsx that was about 0.7 s of CPU each on an idle machine (1.3 s under load), 85 s per GB written;
 * bundled, about 0.2 s.
 */
const commandArgs = new Map<string, Promise<string[]>>();
const archiveCommandArgs = (dir: string | undefined): Promise<string[]> => {
  const fromSources = ['--import', TSX_LOADER, COMMAND];
  if (!dir) return Promise.resolve(fromSources);
  let args = commandArgs.get(dir);
  if (!args) {
    args = buildScriptBundle(COMMAND, 'wal-archive', { standalone: { dir } }).then((built) =>
      'file' in built ? [built.file] : fromSources,
    );
    commandArgs.set(dir, args);
  }
  return args;
};
const SHELL_SAFE = /^[\w@%+=:,./-]+$/;

const quoted = (value: string): string => {
  if (SHELL_SAFE.test(value)) return value;
  if (value.includes("'")) throw new Error(`Cannot quote ${value} for archive_command`);
  return `'${value}'`;
};

/**
 * The server settings that archive every WAL segment of `ctx`'s data directory into its
 * generation (created here for a directory without one, such as an instance older than PITR).
 */
export const archiveSettings = async (
  ctx: InstanceContext,
  target: WalArchiveTarget,
  waldump: string | undefined,
): Promise<string[]> => {
  const generation = (await readGeneration(ctx.dataDir)) ?? (await writeGeneration(ctx.dataDir, ctx.runAs));
  const niceCommand = niced(BACKGROUND_NICENESS, process.execPath, [
    '--no-warnings',
    ...(await archiveCommandArgs(target.commandDir)),
    target.endpoint,
    target.bucket,
    `${generationPrefix(target, ctx.resourceId, generation)}wal/`,
    waldump ?? '-',
    '%p',
    '%f',
  ]);
  const command = [niceCommand.command, ...niceCommand.args]
    .map((part) => (part.startsWith('%') ? part : quoted(part)))
    .join(' ');
  return [
    '-c',
    'archive_mode=on',
    '-c',
    `archive_command=${command}`,
    '-c',
    `archive_timeout=${pitrSettings().archiveTimeoutSeconds}`,
  ];
};

/** Every key under `prefix`, with its size and time. */
export const listKeys = async (
  target: WalArchiveTarget,
  prefix: string,
): Promise<Array<{ key: string; size: number; modified: Date }>> => {
  const keys: Array<{ key: string; size: number; modified: Date }> = [];
  let token: string | undefined;
  do {
    const page = await target.client.send(
      new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const item of page.Contents ?? []) {
      if (item.Key)
        keys.push({ key: item.Key, size: item.Size ?? 0, modified: item.LastModified ?? new Date(0) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
};

/** The generations archived for an instance, oldest first (their names sort by creation time). */
export const listGenerations = async (target: WalArchiveTarget, resourceId: string): Promise<string[]> => {
  const base = instancePrefix(target, resourceId);
  const names = new Set<string>();
  for (const { key } of await listKeys(target, base)) {
    const generation = key.slice(base.length).split('/')[0];
    if (generation && GENERATION.test(generation)) names.add(generation);
  }
  return [...names].sort();
};

/** Segment metadata: the last commit or abort time in it ('' when none). */
export const segmentLastCommit = async (target: WalArchiveTarget, key: string): Promise<string> => {
  const head = await target.client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
  return head.Metadata?.['last-commit'] ?? '';
};

export const getJson = async <T>(target: WalArchiveTarget, key: string): Promise<T> => {
  const object = await target.client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
  return JSON.parse((await object.Body?.transformToString('utf8')) ?? 'null') as T;
};

export const deleteKeys = async (target: WalArchiveTarget, keys: string[]): Promise<void> => {
  for (let i = 0; i < keys.length; i += 1000) {
    await target.client.send(
      new DeleteObjectsCommand({
        Bucket: target.bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
};
