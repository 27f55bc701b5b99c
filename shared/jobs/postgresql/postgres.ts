import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { errorMessage, MissingToolError, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import type { ServerInfo } from '../dump-tool.ts';
import { type Tool, toolVersion } from '../processes.ts';

/** How a job's connection is protected: `sslmode` with the CA bundle that verifies the server. */
export type JobTls = { mode: 'verify-full'; rootCert: string } | { mode: 'require' } | { mode: 'prefer' };

/**
 * The TLS of a job's connections. The job image sets PGSSLMODE=verify-full and PGSSLROOTCERT
 * (the RDS CA bundle, downloaded at build), so on AWS every connection verifies the server's
 * certificate and name, whether or not the addon forces TLS: every RDS instance serves TLS, and
 * PostgreSQL 15+ forces it by default. Without them (the local target, no TLS yet), TLS follows
 * the addon: verified with a configured bundle, encrypted only without one, else `prefer`.
 */
export const jobTls = (
  connection: Pick<Credentials, 'tls'>,
  env: NodeJS.ProcessEnv = process.env,
): JobTls => {
  const rootCert = env.PGSSLROOTCERT;
  if (env.PGSSLMODE === 'verify-full') {
    if (!rootCert) {
      throw new ProviderError(
        'PGSSLMODE=verify-full needs PGSSLROOTCERT (the CA bundle that signs the server certificates)',
        'Misconfigured',
      );
    }
    return { mode: 'verify-full', rootCert };
  }
  if (!connection.tls) return { mode: 'prefer' };
  return rootCert ? { mode: 'verify-full', rootCert } : { mode: 'require' };
};

/**
 * Connection settings for libpq tools, in the environment only: a password on the command line
 * is visible to every user of the machine in `ps`. The child gets nothing else from ours (no AWS
 * credentials, no platform token). LC_ALL=C keeps its messages in English for the error text.
 */
export const libpqEnv = (connection: Credentials, applicationName: string): NodeJS.ProcessEnv => {
  const tls = jobTls(connection);
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LC_ALL: 'C',
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.username,
    PGPASSWORD: connection.password,
    PGDATABASE: connection.database,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: '15',
    PGSSLMODE: tls.mode,
    ...(tls.mode === 'verify-full' ? { PGSSLROOTCERT: tls.rootCert } : {}),
  };
};

/** The same settings for node-postgres, which has no `prefer`: plain unless TLS is asked for. */
export const pgSsl = (connection: Credentials): pg.ClientConfig['ssl'] => {
  const tls = jobTls(connection);
  switch (tls.mode) {
    case 'verify-full':
      // Node's TLS checks the certificate chain and that it names the host.
      return { ca: readFileSync(tls.rootCert, 'utf8'), rejectUnauthorized: true };
    case 'require':
      return { rejectUnauthorized: false };
    case 'prefer':
      return false;
  }
};

/** SQLSTATEs of a server that is there but not ready: worth retrying the job later. */
const TRANSIENT_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * Asks the server its version and the database's size before a job starts: the version picks the
 * client tools (pg_dump must not be older than the server), the size the upload's part size. A
 * wrong password or a missing database fails here, before anything is uploaded. The size is
 * pg_database_size: tables, indexes and free space; the dump has less.
 */
export const inspectServer = async (
  connection: Credentials,
  applicationName: string,
): Promise<ServerInfo> => {
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    user: connection.username,
    password: connection.password,
    database: connection.database,
    application_name: applicationName,
    ssl: pgSsl(connection),
    connectionTimeoutMillis: 15_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ num: string; version: string; size: string }>(
      `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
              pg_database_size(current_database())::text AS size`,
    );
    const row = rows[0];
    if (!row) throw new ProviderError('The server did not report its version');
    return {
      major: String(Math.floor(Number(row.num) / 10_000)),
      version: row.version.split(' ')[0] ?? row.version,
      databaseBytes: Number(row.size),
    };
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    const where = `${connection.host}:${connection.port}/${connection.database}`;
    const { code } = error as { code?: string };
    const message = `Cannot connect to PostgreSQL at ${where} as ${connection.username}: ${errorMessage(error)}`;
    if (code && (TRANSIENT_STATES.has(code) || TRANSIENT_ERRNOS.has(code))) {
      throw new TransientError(message, { cause: error });
    }
    throw new ProviderError(message, 'ConnectionFailed', { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
};

export type PgToolName = 'pg_dump' | 'pg_restore' | 'psql';

export interface PgTool extends Tool {
  major: number;
  /** The first line of `--version`, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`. */
  version: string;
}

const installHint = (major: number) =>
  `apt-get install postgresql-client (Debian); for PostgreSQL ${major}, postgresql-client-${major} from the PGDG repository (apt.postgresql.org)`;

/** Majors with a Debian-layout client installed (/usr/lib/postgresql/<major>/bin), newest first. */
const installedMajors = async (): Promise<number[]> => {
  const entries = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  return entries
    .map(Number)
    .filter((major) => Number.isInteger(major) && major > 0)
    .sort((a, b) => b - a);
};

export const parseMajor = (versionLine: string): number | undefined => {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionLine);
  return match?.[1] ? Number(match[1]) : undefined;
};

/**
 * The client tool for a server of `serverMajor`: the same major when installed (Debian and the
 * PGDG packages put each major under /usr/lib/postgresql/<major>/bin), else the oldest newer one,
 * else whatever PATH has. pg_dump refuses servers newer than itself, and pg_restore cannot read
 * archives written by a newer pg_dump, so an older tool is an error that names what to install.
 */
export const resolvePgTool = async (
  name: PgToolName,
  serverMajor: number,
  pgBinDir?: string,
): Promise<PgTool> => {
  const candidates: string[] = [];
  if (pgBinDir) candidates.push(join(pgBinDir, name));
  else {
    const majors = await installedMajors();
    const usable = majors.filter((major) => major >= serverMajor).sort((a, b) => a - b);
    for (const major of usable) candidates.push(join('/usr/lib/postgresql', String(major), 'bin', name));
    candidates.push(name);
  }
  let lastMissing: MissingToolError | undefined;
  for (const path of candidates) {
    const tool: Tool = { name, path, install: installHint(serverMajor) };
    let version: string;
    try {
      version = await toolVersion(tool);
    } catch (error) {
      if (error instanceof MissingToolError) {
        lastMissing = error;
        continue;
      }
      throw error;
    }
    const major = parseMajor(version);
    if (major === undefined) throw new ProviderError(`Cannot read the version of ${path}: "${version}"`);
    if (major < serverMajor) {
      throw new ProviderError(
        `${name} ${major} is older than the PostgreSQL ${serverMajor} server (${name} must be the server's major version or newer): ${installHint(serverMajor)}`,
        'ToolTooOld',
      );
    }
    return { ...tool, major, version };
  }
  throw lastMissing ?? new MissingToolError(name, installHint(serverMajor));
};
