import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, MissingToolError, ProviderError } from '#shared/errors.ts';
import type { EngineDriver, InstanceContext, SnapshotDriver } from '../driver.ts';
import {
  engineEnv,
  exists,
  findExecutable,
  readFileNoFollow,
  requireSystemTool,
  runLogged,
} from '../system.ts';
import { grantPlatformAccess } from './access.ts';
import { serverMajor } from './binaries.ts';
import { platformRoleOf, socketDirectorySetting } from './connect.ts';
import { GENERATION_FILE } from './wal-archive.ts';

/** A PostgreSQL client tool of `major` (Debian keeps each major's in /usr/lib/postgresql/N/bin), else PATH's. */
export const clientTool = async (name: string, major: string): Promise<string> => {
  const found = await findExecutable(name, [`/usr/lib/postgresql/${major}/bin/${name}`]);
  if (!found) {
    throw new MissingToolError(
      `${name} (PostgreSQL ${major} client tools)`,
      `install them (Debian: apt-get install postgresql-client-${major})`,
    );
  }
  return found;
};

const zstdTool = (): Promise<string> => requireSystemTool('zstd', 'zstd');

const emptyDirectory = async (dir: string): Promise<void> => {
  for (const name of await fs.readdir(dir))
    await fs.rm(path.join(dir, name), { recursive: true, force: true });
};

const BASE_ARCHIVE = 'base.tar.zst';
const WAL_ARCHIVE = 'pg_wal.tar.zst';
const MANIFEST = 'backup_manifest';
/** pg_basebackup output that means the server has not applied our pg_hba.conf yet. */
const NOT_YET_RELOADED = /pg_hba\.conf|no password supplied|authentication failed/i;

/**
 * Online physical snapshots with pg_basebackup: a tar of the data directory plus, streamed over a
 * temporary replication slot, all the WAL written while it was copied, so the copy is consistent
 * while the addon keeps serving (no downtime; `--checkpoint=fast` starts it at once). The
 * alternative, copying a stopped server's files, would be simpler but takes the addon down for
 * as long as the copy lasts.
 */
export class PostgresSnapshots implements SnapshotDriver {
  readonly format = 'pg_basebackup-tar-zstd';

  constructor(private readonly driver: Pick<EngineDriver, 'findLeftover'>) {}

  async dataMajor(dataDir: string): Promise<string> {
    const text = await readFileNoFollow(path.join(dataDir, 'PG_VERSION')).catch((error: unknown) => {
      throw new ProviderError(`Cannot read the PostgreSQL version of ${dataDir}: ${errorMessage(error)}`);
    });
    const major = text.trim();
    if (!/^\d+$/.test(major)) throw new ProviderError(`Unexpected PG_VERSION in ${dataDir}: ${major}`);
    return major;
  }

  serverMajor(): Promise<string> {
    return serverMajor();
  }

  async take(ctx: InstanceContext, targetDir: string, signal: AbortSignal): Promise<void> {
    const major = await this.dataMajor(ctx.dataDir);
    const [basebackup, zstd] = await Promise.all([clientTool('pg_basebackup', major), zstdTool()]);
    if (!socketDirectorySetting(ctx)) {
      throw new ProviderError(
        `The Unix socket path of this instance (${ctx.socketDir}) is too long, and snapshots connect through it: ` +
          "put the platform's data directory at a shorter path",
        'SnapshotAccess',
      );
    }
    let reloaded = false;
    if (await grantPlatformAccess(ctx)) {
      // An instance created before snapshots existed: patched now, applied by a reload (no restart).
      const pid = await this.driver.findLeftover(ctx);
      if (pid === undefined) throw new ProviderError('The PostgreSQL server of this instance is not running');
      process.kill(pid, 'SIGHUP');
      reloaded = true;
    }
    const options = { runAs: ctx.runAs, env: engineEnv(), cwd: targetDir, logFile: ctx.logFile, signal };
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        await runLogged(
          basebackup,
          [
            `--host=${ctx.socketDir}`,
            `--port=${ctx.record.port}`,
            `--username=${platformRoleOf(ctx).username}`,
            '--no-password',
            `--pgdata=${targetDir}`,
            '--format=tar',
            '--wal-method=stream',
            '--checkpoint=fast',
            '--compress=client-zstd',
            `--label=addons snapshot of ${ctx.resourceId}`,
          ],
          { ...options, what: 'pg_basebackup' },
        );
        break;
      } catch (error) {
        // The postmaster reloads pg_hba.conf asynchronously after SIGHUP: a connection may beat it.
        if (
          !reloaded ||
          signal.aborted ||
          Date.now() > deadline ||
          !NOT_YET_RELOADED.test(errorMessage(error))
        )
          throw error;
        await emptyDirectory(targetDir);
        await sleep(50);
      }
    }
    // pg_basebackup compresses the WAL archive with gzip only: compress it here (16 MiB a segment, mostly zeros).
    await runLogged(zstd, ['-q', '--rm', 'pg_wal.tar'], { ...options, what: 'zstd' });
    for (const name of [BASE_ARCHIVE, WAL_ARCHIVE, MANIFEST]) {
      if (!(await exists(path.join(targetDir, name)))) {
        throw new ProviderError(`pg_basebackup did not write ${name}`);
      }
    }
  }

  async restore(
    ctx: InstanceContext,
    snapshotDir: string,
    dataDir: string,
    signal: AbortSignal,
  ): Promise<void> {
    for (const name of [BASE_ARCHIVE, WAL_ARCHIVE]) {
      if (!(await exists(path.join(snapshotDir, name)))) {
        throw new ProviderError(`The snapshot is incomplete: ${name} is missing`, 'SnapshotCorrupt');
      }
    }
    const [tar] = await Promise.all([requireSystemTool('tar', 'tar'), zstdTool()]);
    // As the engine user: the archives are the engine's output, never unpacked with root's rights.
    const options = { runAs: ctx.runAs, env: engineEnv(), cwd: dataDir, logFile: ctx.logFile, signal };
    const extract = (archive: string, into: string) =>
      runLogged(
        tar,
        [
          '--extract',
          '--zstd',
          '--no-same-owner',
          `--file=${path.join(snapshotDir, archive)}`,
          `--directory=${into}`,
        ],
        { ...options, what: `extracting ${archive}` },
      );
    await extract(BASE_ARCHIVE, dataDir);
    await extract(WAL_ARCHIVE, path.join(dataDir, 'pg_wal'));

    const major = await this.dataMajor(dataDir);
    if (!(await exists(path.join(dataDir, 'backup_label')))) {
      throw new ProviderError(
        'The snapshot has no backup_label: it is not a pg_basebackup copy',
        'SnapshotCorrupt',
      );
    }
    // Checksums of every file against the manifest (and the WAL range, when pg_waldump sits next to
    // it), before the running server is stopped: a damaged snapshot costs no downtime.
    const verify = await findExecutable('pg_verifybackup', [
      `/usr/lib/postgresql/${major}/bin/pg_verifybackup`,
    ]);
    const manifest = path.join(snapshotDir, MANIFEST);
    if (verify && (await exists(manifest))) {
      const parseWal = await exists(path.join(path.dirname(verify), 'pg_waldump'));
      await runLogged(
        verify,
        ['--quiet', `--manifest-path=${manifest}`, ...(parseWal ? [] : ['--no-parse-wal']), dataDir],
        { ...options, what: 'pg_verifybackup' },
      );
    }
    // Restored data writes WAL the snapshot's archive history already named: it starts a new one.
    await fs.rm(path.join(dataDir, GENERATION_FILE), { force: true });
  }
}
