import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceContext, UpgradeDriver } from '../driver.ts';
import { engineEnv, readTail } from '../system.ts';
import { grantPlatformAccess } from './access.ts';
import { binaries, LOCAL_MAJORS } from './binaries.ts';
import { hasSocket, platformConnect, platformRoleOf, socketDirectorySetting } from './connect.ts';
import { clientTool } from './snapshots.ts';

/** The client tools' major: Debian 12's, which dump servers up to 15 and restore into 15. */
const TOOLS_MAJOR = '15';
const STOP_GRACE_MS = 120_000;

/** A server started on a data directory for the copy only: no TCP, its socket on a port of its own. */
interface CopyServer {
  ctx: InstanceContext;
  stop(): Promise<void>;
}

const startCopyServer = async (ctx: InstanceContext, major: string): Promise<CopyServer> => {
  const { postgres } = await binaries(major);
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  const copyCtx: InstanceContext = { ...ctx, record: { ...ctx.record, port } };
  const socketDir = socketDirectorySetting(copyCtx);
  if (!socketDir) throw new ProviderError(`The socket path of ${ctx.dir} is too long for an upgrade`);
  const args = ['-D', ctx.dataDir, '-p', String(port), '-c', 'listen_addresses=', '-c'];
  args.push(
    `unix_socket_directories=${socketDir}`,
    '-c',
    'unix_socket_permissions=0700',
    '-c',
    'archive_mode=off',
  );
  const log = await fs.open(ctx.logFile, 'a', 0o600);
  const from = (await log.stat()).size;
  let exit: string | undefined;
  const child: ChildProcess = spawn(postgres, args, {
    cwd: ctx.dataDir,
    env: engineEnv(),
    stdio: ['ignore', log.fd, log.fd],
    ...(ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {}),
  });
  await log.close();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      exit = String(code ?? sig);
      resolve();
    });
    child.once('error', () => {
      exit ??= 'spawn error';
      resolve();
    });
  });
  const failure = async (why: string) =>
    new ProviderError(
      `The PostgreSQL ${major} server for the copy ${why}: ${(await readTail(ctx.logFile, { from })) || 'no output'}`,
      'UpgradeFailed',
    );
  const stop = async () => {
    if (exit !== undefined) return;
    child.kill('SIGINT');
    if (await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)])) return;
    child.kill('SIGKILL');
    await exited;
  };
  for (const deadline = Date.now() + 60_000; ; ) {
    if (exit !== undefined) throw await failure(`exited with ${exit}`);
    const pidfile = await fs.readFile(path.join(ctx.dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
    if (pidfile.split('\n')[7]?.trim() === 'ready') break;
    if (Date.now() > deadline) {
      await stop();
      throw await failure('did not become ready within 60 s');
    }
    await sleep(50);
  }
  return { ctx: copyCtx, stop };
};

/** The client tools' connection to a server over its socket, as the platform's role (peer). */
const toolEnv = (ctx: InstanceContext, database: string): NodeJS.ProcessEnv => ({
  ...engineEnv(),
  PGHOST: ctx.socketDir,
  PGPORT: String(ctx.record.port),
  PGUSER: platformRoleOf(ctx).username,
  PGDATABASE: database,
});

/** `from | to`, both logged; rejects naming the one that failed. */
const pipe = async (
  from: { command: string; args: string[]; env: NodeJS.ProcessEnv },
  to: { command: string; args: string[]; env: NodeJS.ProcessEnv },
  logFile: string,
  signal: AbortSignal,
  filter?: (text: string) => string,
): Promise<void> => {
  const log = await fs.open(logFile, 'a', 0o600);
  const start = (await log.stat()).size;
  const run = (step: { command: string; args: string[]; env: NodeJS.ProcessEnv }, stdio: 'in' | 'out') =>
    spawn(step.command, step.args, {
      env: step.env,
      signal,
      stdio: stdio === 'out' ? ['ignore', 'pipe', log.fd] : ['pipe', log.fd, log.fd],
    });
  const ended = (child: ChildProcess, name: string) =>
    new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, sig) =>
        code === 0 ? resolve() : reject(new Error(`${name} ended with ${code ?? sig}`)),
      );
    });
  try {
    const reader = run(from, 'out');
    const writer = run(to, 'in');
    const done = Promise.all([
      ended(reader, path.basename(from.command)),
      ended(writer, path.basename(to.command)),
    ]);
    writer.stdin?.on('error', () => undefined);
    if (filter) {
      const chunks: Buffer[] = [];
      reader.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
      reader.stdout?.once('end', () => writer.stdin?.end(filter(Buffer.concat(chunks).toString('utf8'))));
    } else {
      reader.stdout?.pipe(writer.stdin as NodeJS.WritableStream);
    }
    await done;
  } catch (error) {
    const output = await readTail(logFile, { from: start });
    throw new ProviderError(
      `Copying the data failed (${signal.aborted ? 'interrupted' : errorMessage(error)}): ${output || 'no output'}`,
      'UpgradeFailed',
    );
  } finally {
    await log.close();
  }
};

const query = async (ctx: InstanceContext, database: string, text: string) => {
  const client = (await platformConnect(ctx)(platformRoleOf(ctx).username, database)) as pg.Client;
  try {
    return (await client.query(text)).rows as Array<Record<string, string>>;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** Each user table of `database` with a checksum of its rows (sorted by their text): equal sums, equal data. */
export const tableChecksums = async (
  ctx: InstanceContext,
  database: string,
): Promise<Record<string, string>> => {
  const tables = await query(
    ctx,
    database,
    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables " +
      "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
  );
  const sums: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await query(
      ctx,
      database,
      `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM ${name} t`,
    );
    sums[name as string] = row?.sum as string;
  }
  return sums;
};

/** Close TCP (or open it again) on the running server: pg_hba.conf, then a reload. */
const fence = async (ctx: InstanceContext, fenced: boolean): Promise<void> => {
  await grantPlatformAccess(ctx, { fenced });
  await query(ctx, 'postgres', 'SELECT pg_reload_conf()');
  if (fenced) {
    // Sessions opened before the reload: ended, so none writes during the copy.
    await query(
      ctx,
      'postgres',
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() ' +
        "AND backend_type = 'client backend' AND usename <> current_user",
    );
  }
};

/**
 * A major upgrade by dump and restore: the running server (`source`) is closed to clients (TCP
 * rejected, sessions ended) so the copy misses no write; `target.dataDir` gets a new cluster of
 * `major` (initdb with the platform role), started on its socket only; the roles (with their
 * password hashes) and every database go across with the client tools; each table's checksum is
 * compared on both sides; the copy server stops cleanly. On failure the source is opened again.
 * The swap itself (stop, switch the data directory, start) is the supervisor's restore mechanics
 * (snapshot-restore.ts), crash-safe as a restore is.
 */
export class PostgresUpgrades implements UpgradeDriver {
  constructor(private readonly initialise: (ctx: InstanceContext) => Promise<void>) {}

  async majors(): Promise<string[]> {
    return [...LOCAL_MAJORS];
  }

  async prepare(source: InstanceContext, target: InstanceContext, major: string, signal: AbortSignal) {
    if (!hasSocket(source)) {
      throw new ProviderError(`The socket path of ${source.dir} is too long for an upgrade`, 'UpgradeFailed');
    }
    const [dumpall, dump, restore, psql] = await Promise.all(
      ['pg_dumpall', 'pg_dump', 'pg_restore', 'psql'].map((name) => clientTool(name, TOOLS_MAJOR)),
    );
    await this.initialise({ ...target, record: { ...target.record, version: major } });
    await fence(source, true);
    let copy: CopyServer | undefined;
    try {
      copy = await startCopyServer(target, major);
      const admin = platformRoleOf(source).username;
      // The roles, with their password hashes; the platform's own exists already (initdb).
      await pipe(
        { command: dumpall as string, args: ['--globals-only'], env: toolEnv(source, 'postgres') },
        {
          command: psql as string,
          args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1'],
          env: toolEnv(copy.ctx, 'postgres'),
        },
        target.logFile,
        signal,
        (text) =>
          text
            .split('\n')
            .filter((line) => line !== `CREATE ROLE ${admin};` && line !== `CREATE ROLE "${admin}";`)
            .join('\n'),
      );
      const databases = await query(
        source,
        'postgres',
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' ORDER BY 1",
      );
      for (const { datname } of databases) {
        signal.throwIfAborted();
        await pipe(
          { command: dump as string, args: ['--format=custom'], env: toolEnv(source, datname as string) },
          {
            command: restore as string,
            args: ['--create', '--exit-on-error', '--dbname=postgres'],
            env: toolEnv(copy.ctx, 'postgres'),
          },
          target.logFile,
          signal,
        );
        const [before, after] = await Promise.all([
          tableChecksums(source, datname as string),
          tableChecksums(copy.ctx, datname as string),
        ]);
        const differ = Object.keys({ ...before, ...after }).filter((table) => before[table] !== after[table]);
        if (differ.length) {
          throw new ProviderError(
            `The copy of database '${datname}' differs from the original in ${differ.join(', ')}`,
            'UpgradeVerificationFailed',
          );
        }
      }
      await copy.stop();
    } catch (error) {
      await copy?.stop().catch(() => undefined);
      await fence(source, false).catch(() => undefined);
      throw error;
    }
  }
}
