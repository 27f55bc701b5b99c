import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceContext, SnapshotDriver } from '../driver.ts';
import { engineEnv, exists, replaceFile, requireSystemTool, runLogged } from '../system.ts';
import { majorOf, serverMajor } from './binaries.ts';
import { asPlatform } from './connect.ts';
import { adoptRdb } from './rdb-upload.ts';
import { RedisReplyError, type Reply } from './resp.ts';

/** Where BGSAVE writes (redis.conf keeps the default `dbfilename`), in the data directory. */
const RDB_FILE = 'dump.rdb';
/** In a snapshot: the full version of the server that wrote its RDB, e.g. `7.0.15`. */
const VERSION_FILE = 'redis-version';
/** The append-only file layout of Redis 7 (defaults of `appenddirname` and `appendfilename`). */
const AOF_DIR = 'appendonlydir';
const AOF_MANIFEST = 'appendonly.aof.manifest';
const AOF_BASE = 'appendonly.aof.1.base.rdb';
const POLL_MS = 50;

/** The first bytes of `file`: enough for an RDB header and its `redis-ver` field. */
const head = async (file: string, bytes = 512): Promise<Buffer> => {
  const handle = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
};

/** `7.0` of an RDB file, from the `redis-ver` field Redis writes right after the `REDIS00NN` magic. */
const rdbMajor = async (file: string): Promise<string | undefined> => {
  const bytes = await head(file).catch(() => undefined);
  if (bytes?.toString('latin1', 0, 5) !== 'REDIS') return undefined;
  const version = /redis-ver[\s\S](\d+\.\d+\.\d+)/.exec(bytes.toString('latin1'))?.[1];
  return version && majorOf(`v=${version}`);
};

/** The base RDB of a data directory's append-only file, as its manifest names it. */
const aofBase = async (dataDir: string): Promise<string | undefined> => {
  const manifest = await fs.readFile(path.join(dataDir, AOF_DIR, AOF_MANIFEST), 'utf8').catch(() => '');
  const name = /^file (\S+) seq \d+ type b$/m.exec(manifest)?.[1];
  return name && !name.includes('/') ? path.join(dataDir, AOF_DIR, name) : undefined;
};

/** `field:value` lines of an INFO reply. */
const infoFields = (reply: Reply | undefined): Map<string, string> => {
  if (reply instanceof RedisReplyError) throw new ProviderError(`Redis refused INFO: ${reply.message}`);
  const fields = new Map<string, string>();
  for (const line of String(reply ?? '').split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
};

/**
 * Online snapshots as RDB files: `BGSAVE` forks the server, and the child writes the dataset as
 * it was at the fork while the parent keeps serving (no downtime). The file is written to a
 * temporary name and renamed, so the copy taken afterwards is always a whole RDB.
 *
 * A restore cannot simply put `dump.rdb` in the new data directory: with `appendonly yes`, a
 * server that finds no append-only file starts EMPTY and ignores `dump.rdb` (verified with
 * redis-server 7.0.15). Redis 7's append-only file is a manifest naming a base file, which may be
 * an RDB, and incremental files: the restore writes the snapshot as the base of a new append-only
 * file with a one-line manifest, which the next start loads (it then adds its incremental file).
 */
export class RedisSnapshots implements SnapshotDriver {
  readonly format = 'redis-rdb';
  /** An uploaded RDB (an import) becomes a snapshot: see rdb-upload.ts. */
  readonly adoptUpload = adoptRdb;

  /** From a snapshot's version file, else the RDB in `dir`: a snapshot's `dump.rdb` or a data directory's AOF base. */
  async dataMajor(dir: string): Promise<string> {
    const recorded = await fs
      .readFile(path.join(dir, VERSION_FILE), 'utf8')
      .then((text) => majorOf(`v=${text.trim()}`))
      .catch(() => undefined);
    if (recorded) return recorded;
    const base = await aofBase(dir);
    const major = (await rdbMajor(path.join(dir, RDB_FILE))) ?? (base && (await rdbMajor(base)));
    if (!major) {
      throw new ProviderError(
        `Cannot read the Redis version of ${dir}: neither ${VERSION_FILE}, ${RDB_FILE} nor an append-only file names it`,
      );
    }
    return major;
  }

  serverMajor(): Promise<string> {
    return serverMajor();
  }

  async take(ctx: InstanceContext, targetDir: string, signal: AbortSignal): Promise<void> {
    const [server, before] = (
      await asPlatform(ctx, [
        ['INFO', 'server'],
        ['INFO', 'persistence'],
      ])
    ).map(infoFields);
    const version = server?.get('redis_version');
    const savesBefore = Number(before?.get('rdb_saves'));
    if (!version || !Number.isFinite(savesBefore)) {
      throw new ProviderError('Redis did not report its version and RDB saves in INFO');
    }
    // SCHEDULE: while an append-only rewrite runs, the save starts right after it instead of failing.
    const [started] = await asPlatform(ctx, [['BGSAVE', 'SCHEDULE']]);
    if (started instanceof RedisReplyError) {
      throw new ProviderError(`Redis refused to start a background save: ${started.message}`);
    }
    const statusBefore = before?.get('rdb_last_bgsave_status');
    let sawRunning = started === 'Background saving started';
    for (;;) {
      await sleep(POLL_MS, undefined, { signal });
      const [info] = (await asPlatform(ctx, [['INFO', 'persistence']])).map(infoFields);
      if (info?.get('rdb_bgsave_in_progress') !== '0') {
        sawRunning = true;
        continue;
      }
      // Ours ran once rdb_saves moved on (or a save was seen running); its outcome is the last status.
      const ok = info.get('rdb_last_bgsave_status') === 'ok';
      const ran = sawRunning || Number(info.get('rdb_saves')) > savesBefore;
      if (ran && ok && Number(info.get('rdb_saves')) > savesBefore) break;
      if (!ok && (ran || statusBefore === 'ok')) {
        throw new ProviderError(`Redis could not write its RDB file (see ${ctx.logFile})`);
      }
    }
    await this.keepRdb(ctx, targetDir, signal);
    await replaceFile(path.join(targetDir, VERSION_FILE), `${version}\n`, ctx.runAs, 0o600);
    if (!(await rdbMajor(path.join(targetDir, RDB_FILE)))) {
      throw new ProviderError(`The copied ${RDB_FILE} is not an RDB file`);
    }
  }

  /** The snapshot's RDB: a file `redis-server` (7.0 or later) and `redis-check-rdb` load as it is. */
  exportFile(snapshotDir: string): string {
    return path.join(snapshotDir, RDB_FILE);
  }

  /**
   * The RDB BGSAVE just wrote, into the snapshot, as the engine user (it is the engine's file).
   * A hard link, not a copy: Redis never writes `dump.rdb` in place (a save writes a temporary
   * file and renames it over), so the linked file keeps the snapshot's bytes whatever the server
   * saves later, and a 1 GB dataset costs no second gigabyte of writes. Copied when the snapshot
   * directory is on another file system.
   */
  private async keepRdb(ctx: InstanceContext, targetDir: string, signal: AbortSignal): Promise<void> {
    const options = { runAs: ctx.runAs, env: engineEnv(), cwd: targetDir, logFile: ctx.logFile, signal };
    const source = path.join(ctx.dataDir, RDB_FILE);
    const target = path.join(targetDir, RDB_FILE);
    const ln = await requireSystemTool('ln', 'coreutils');
    try {
      await runLogged(ln, [source, target], { ...options, what: 'linking the RDB' });
      // The engine's own 0600, as a copy would be (the data directory's name for it changes too).
      await fs.chmod(target, 0o600);
      return;
    } catch (error) {
      signal.throwIfAborted();
      await fs.rm(target, { force: true });
      if (!/cross-device|Invalid cross-device link/i.test(errorMessage(error))) throw error;
    }
    const install = await requireSystemTool('install', 'coreutils');
    await runLogged(install, ['-m', '600', source, target], { ...options, what: 'copying the RDB' });
  }

  async restore(
    ctx: InstanceContext,
    snapshotDir: string,
    dataDir: string,
    signal: AbortSignal,
  ): Promise<void> {
    const rdb = path.join(snapshotDir, RDB_FILE);
    if (!(await exists(rdb)) || !(await rdbMajor(rdb))) {
      throw new ProviderError(`The snapshot has no readable ${RDB_FILE}`, 'SnapshotCorrupt');
    }
    const install = await requireSystemTool('install', 'coreutils');
    const options = { runAs: ctx.runAs, env: engineEnv(), cwd: dataDir, logFile: ctx.logFile, signal };
    const aofDir = path.join(dataDir, AOF_DIR);
    await runLogged(install, ['-d', '-m', '700', aofDir], { ...options, what: 'creating appendonlydir' });
    await runLogged(install, ['-m', '600', rdb, path.join(aofDir, AOF_BASE)], {
      ...options,
      what: 'copying the snapshot',
    });
    await replaceFile(path.join(aofDir, AOF_MANIFEST), `file ${AOF_BASE} seq 1 type b\n`, ctx.runAs, 0o600);
    await this.dataMajor(dataDir).catch((error: unknown) => {
      throw new ProviderError(errorMessage(error), 'SnapshotCorrupt');
    });
  }
}
