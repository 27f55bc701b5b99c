import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceContext, SnapshotDriver } from '../driver.ts';
import { engineEnv, exists, readFileNoFollow, replaceFile, requireSystemTool, runLogged } from '../system.ts';
import { majorOf, serverMajor, tool } from './binaries.ts';
import { platformRoleOf } from './connect.ts';
import { socketPath } from './settings.ts';

/** Written by mariadb-install-db (and kept by the server): the version that made the data. */
export const UPGRADE_INFO = 'mysql_upgrade_info';
/** mariadb-backup's description of a copy: its state (`full-backuped`, then `full-prepared`) and LSNs. */
const CHECKPOINTS = 'xtrabackup_checkpoints';
/** mariadb-backup's record of the copy, with the server version it was taken from. */
const BACKUP_INFO = 'xtrabackup_info';
/** Left by `--prepare` in a backup directory, meaningless in a data directory. */
export const BACKUP_ONLY_FILES = ['backup-my.cnf', CHECKPOINTS, 'xtrabackup_binlog_pos_innodb'];

const backupType = async (dir: string): Promise<string | undefined> => {
  const text = await readFileNoFollow(path.join(dir, CHECKPOINTS)).catch(() => undefined);
  return text && /^backup_type\s*=\s*(\S+)/m.exec(text)?.[1];
};

/**
 * Online physical snapshots with mariadb-backup: it copies the data files while the server keeps
 * serving, together with the redo log written meanwhile, and takes a backup lock only for the
 * moment it copies the non-InnoDB tables. The copy is not a data directory yet: a restore copies
 * it into the new (empty) data directory and runs `--prepare` there, which applies that redo log.
 * Preparing in place, rather than in a scratch directory followed by `--copy-back`, copies the
 * snapshot once instead of twice and leaves nothing behind to clean up after a crash (the data
 * directory of an interrupted restore is removed by the rollback).
 *
 * Tool output goes to `backup.log` in the instance directory, overwritten by each snapshot and
 * restore: mariadb-backup logs a line per file, which would drown the server's own log.
 */
export class MariaDbSnapshots implements SnapshotDriver {
  readonly format = 'mariadb-backup';

  async dataMajor(dataDir: string): Promise<string> {
    const fromUpgradeInfo = await readFileNoFollow(path.join(dataDir, UPGRADE_INFO))
      .then((text) => majorOf(text))
      .catch(() => undefined);
    if (fromUpgradeInfo) return fromUpgradeInfo;
    const info = await readFileNoFollow(path.join(dataDir, BACKUP_INFO)).catch(() => '');
    const version = /^server_version\s*=\s*(\S+)/m.exec(info)?.[1];
    const major = version && majorOf(version);
    if (!major) {
      throw new ProviderError(
        `Cannot read the MariaDB version of ${dataDir}: neither ${UPGRADE_INFO} nor ${BACKUP_INFO} names it`,
      );
    }
    return major;
  }

  serverMajor(): Promise<string> {
    return serverMajor();
  }

  async take(ctx: InstanceContext, targetDir: string, signal: AbortSignal): Promise<void> {
    const backup = await tool('mariadb-backup');
    const admin = platformRoleOf(ctx);
    const logFile = await freshLog(ctx);
    await runLogged(
      backup,
      [
        '--no-defaults',
        '--backup',
        `--target-dir=${targetDir}`,
        `--socket=${socketPath(ctx)}`,
        `--user=${admin.username}`,
      ],
      // The password in the environment (readable by the engine user and root only), never in argv.
      {
        runAs: ctx.runAs,
        env: { ...engineEnv(), MYSQL_PWD: admin.password },
        cwd: targetDir,
        logFile,
        what: 'mariadb-backup --backup',
        signal,
      },
    );
    if ((await backupType(targetDir)) !== 'full-backuped') {
      throw new ProviderError(`mariadb-backup did not write ${CHECKPOINTS} (see ${logFile})`);
    }
    // mariadb-backup copies table files only: keep the version the data was made with.
    const upgradeInfo = await readFileNoFollow(path.join(ctx.dataDir, UPGRADE_INFO)).catch(() => undefined);
    if (upgradeInfo !== undefined) {
      await replaceFile(path.join(targetDir, UPGRADE_INFO), upgradeInfo, ctx.runAs, 0o640);
    }
  }

  async restore(
    ctx: InstanceContext,
    snapshotDir: string,
    dataDir: string,
    signal: AbortSignal,
  ): Promise<void> {
    const type = await backupType(snapshotDir);
    if (type !== 'full-backuped') {
      throw new ProviderError(
        `The snapshot is not a mariadb-backup copy ready to prepare (${CHECKPOINTS}: ${type ?? 'missing'})`,
        'SnapshotCorrupt',
      );
    }
    const [backup, cp] = await Promise.all([tool('mariadb-backup'), requireSystemTool('cp', 'coreutils')]);
    const logFile = await freshLog(ctx);
    // As the engine user: the snapshot is the engine's output, never handled with root's rights.
    const options = { runAs: ctx.runAs, env: engineEnv(), cwd: dataDir, logFile, signal };
    await runLogged(
      cp,
      ['-R', '--no-dereference', '--preserve=mode,timestamps', `${snapshotDir}/.`, dataDir],
      { ...options, what: 'copying the snapshot' },
    );
    // Applies the redo log copied with the files: a damaged copy fails here, before the running
    // server is stopped, so it costs no downtime.
    await runLogged(backup, ['--no-defaults', '--prepare', `--target-dir=${dataDir}`], {
      ...options,
      what: 'mariadb-backup --prepare',
    });
    if (!['log-applied', 'full-prepared'].includes((await backupType(dataDir)) ?? '')) {
      throw new ProviderError(
        `mariadb-backup --prepare did not complete (see ${logFile})`,
        'SnapshotCorrupt',
      );
    }
    for (const name of BACKUP_ONLY_FILES) await fs.rm(path.join(dataDir, name), { force: true });
    if (!(await exists(path.join(dataDir, 'mysql')))) {
      throw new ProviderError('The snapshot has no system tables (mysql/)', 'SnapshotCorrupt');
    }
    await this.dataMajor(dataDir).catch((error: unknown) => {
      throw new ProviderError(errorMessage(error), 'SnapshotCorrupt');
    });
  }
}

/** `backup.log` in the instance directory, emptied: the tool output of this snapshot or restore only. */
const freshLog = async (ctx: InstanceContext): Promise<string> => {
  const logFile = path.join(ctx.dir, 'backup.log');
  await fs.rm(logFile, { force: true });
  return logFile;
};
