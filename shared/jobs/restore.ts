import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { errorMessage, ProviderError, TransientError, UnsupportedError } from '../errors.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Compression } from '../schemas/backup.ts';
import type { Engine } from '../schemas/catalog.ts';
import { resolveCodec, type ToolPaths } from './compression.ts';
import type { S3Target } from './dump.ts';
import { abortedError, isTransientS3Error, looksTransient } from './job-errors.ts';
import { inspectServer, libpqEnv, resolvePgTool } from './postgres.ts';
import {
  describeExit,
  diedOfBrokenPipe,
  isBrokenPipe,
  type RunningTool,
  startTool,
  succeeded,
  type ToolExit,
} from './processes.ts';
import { Sha256Counter, TailGate } from './streams.ts';

export interface RestoreProgress {
  /** Artifact bytes downloaded (and hashed) so far. */
  bytes: number;
  totalBytes?: number;
}

export interface RestoreOptions {
  connection: Credentials;
  engine?: Engine;
  s3: S3Target;
  compression: Compression;
  /** The SHA-256 recorded at backup time; on a mismatch nothing is committed. */
  expectedSha256?: string;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
  tools?: ToolPaths;
  /** How long to wait for other sessions' locks on the objects being replaced. Default 60 s. */
  lockTimeoutMs?: number;
}

export interface RestoreJobResult {
  sizeBytes: number;
  sha256: string;
  /** Whether the artifact was checked against `expectedSha256`. */
  verified: boolean;
  startedAt: string;
  completedAt: string;
  /** The pg_restore that read the archive. */
  toolVersion: string;
  serverVersion: string;
}

const APPLICATION_NAME = 'addons-restore';
/** The script's final COMMIT sits in its last few hundred bytes; hold back far more than that. */
const HELD_SCRIPT_BYTES = 64 * 1024;
const PROGRESS_EVERY_BYTES = 8 * 1024 ** 2;

/**
 * Empties the database inside the restore's transaction: every non-system schema goes (with the
 * tables, views, functions, types and extensions in it), and so do large objects, which belong to
 * no schema. `public` comes back with its owner, privileges and comment, because pg_dump treats it
 * as pre-existing and never dumps its CREATE. What the archive then creates is exactly what
 * existed at backup time, including the absence of tables created since.
 *
 * `client_min_messages = error` hides the warning about pg_restore's own BEGIN inside ours; the
 * script resets it, and the timeouts, right after.
 */
export const restorePrelude = (lockTimeoutMs: number): string => `SET client_min_messages = error;
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET lock_timeout = ${Math.max(0, Math.floor(lockTimeoutMs))};
BEGIN;
DO $addons_restore$
DECLARE
  public_owner regrole;
  public_acl aclitem[];
  public_comment text;
  schema_name name;
  privilege record;
BEGIN
  SELECT nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace')
    INTO public_owner, public_acl, public_comment
    FROM pg_namespace WHERE nspname = 'public';
  FOR schema_name IN
    SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
  IF public_owner IS NOT NULL THEN
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', public_owner);
    FOR privilege IN
      SELECT grantee, privilege_type, is_grantable FROM aclexplode(public_acl)
      WHERE grantee <> public_owner::oid
    LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %s%s', privilege.privilege_type,
        CASE WHEN privilege.grantee = 0 THEN 'PUBLIC' ELSE privilege.grantee::regrole::text END,
        CASE WHEN privilege.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    EXECUTE format('COMMENT ON SCHEMA public IS %L', public_comment);
  END IF;
END
$addons_restore$;
`;

/**
 * Restores a dump artifact over the database, all or nothing:
 *
 *   S3 GetObject ──> SHA-256 ──> zstd -d|gzip -d ──(OS pipe)──> pg_restore -f - ──> hold-back ──> psql
 *                                                                                      ^ prelude
 *
 * pg_restore turns the archive into a script (`--single-transaction`: one BEGIN ... COMMIT, and
 * no COMMITs of its own around large objects), and psql runs it after our prelude, which empties
 * the database in the same transaction. Nothing is visible to other sessions until the COMMIT,
 * the script's last statement, and that COMMIT is held back in this process until the whole
 * artifact has been read and its SHA-256 matched, and the decompressor and pg_restore have exited
 * 0. Any failure before that kills psql, the server rolls the transaction back, and the database
 * is exactly as it was: a corrupted artifact cannot leave a half-restored database behind.
 *
 * Restoring into a fresh database and renaming it into place would give the same atomicity but
 * needs CREATEDB, twice the disk, connection termination, and loses database-level settings;
 * pg_restore --clean alone would leave tables created after the backup in place.
 */
export const runRestore = async (options: RestoreOptions): Promise<RestoreJobResult> => {
  const { connection, s3, compression, signal } = options;
  const startedAt = new Date().toISOString();
  if (signal?.aborted) throw abortedError('restore', signal);
  if ((options.engine ?? 'postgresql') !== 'postgresql') {
    throw new UnsupportedError(`Restore jobs support PostgreSQL only, not ${options.engine}`);
  }
  const expected = options.expectedSha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) {
    throw new ProviderError(`The expected SHA-256 "${options.expectedSha256}" is not 64 hex digits`);
  }
  const server = await inspectServer(connection, APPLICATION_NAME);
  const [pgRestore, psql, codec] = await Promise.all([
    resolvePgTool('pg_restore', server.major, options.tools?.pgBinDir),
    resolvePgTool('psql', server.major, options.tools?.pgBinDir),
    resolveCodec(compression, options.tools),
  ]);
  const object = await s3.client
    .send(new GetObjectCommand({ Bucket: s3.bucket, Key: s3.key }), { abortSignal: signal })
    .catch((error: Error) => {
      if (signal?.aborted) throw abortedError('restore', signal);
      throw downloadFailure(error, s3.key);
    });
  const source = object.Body as Readable | undefined;
  if (!source) throw new ProviderError(`The artifact ${s3.key} has no body`, 'ArtifactUnreadable');
  const totalBytes = object.ContentLength;

  const runner = startTool(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password'], {
    env: libpqEnv(connection, APPLICATION_NAME),
    stdin: 'pipe',
    stdout: 'ignore',
  });
  const restorer = startTool(
    pgRestore,
    [
      '--format=custom',
      '--file=-',
      '--single-transaction',
      '--clean',
      '--if-exists',
      '--no-owner',
      '--no-acl',
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, stdin: 'pipe', stdout: 'pipe' },
  );
  const decompressor = startTool(codec.tool, codec.decompressArgs, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdin: 'pipe',
    stdout: restorer.child.stdin ?? 'ignore',
  });
  restorer.child.stdin?.destroy();

  // Failures are acted on at once (psql killed, so nothing commits) but reported once every
  // process has exited: one failure causes others downstream and upstream (a dead pg_restore
  // breaks the decompressor's pipe, a dead decompressor truncates pg_restore's input), and the
  // one to report is the cause. Lower rank = nearer the cause.
  const failures: Array<{ error: Error; rank: number }> = [];
  let aborting = false;
  let committing = false;
  const SYMPTOM = 9;
  const report = (error: Error, rank: number) => {
    if (committing) return;
    failures.push({ error, rank });
    if (aborting) return;
    aborting = true;
    // psql first, and for good: its transaction must end by the connection dropping, not by
    // anything more it might read.
    runner.kill(true);
    gate.destroy(error);
    hasher.destroy(error);
    source.destroy();
    restorer.child.stdout?.destroy();
    decompressor.kill();
    restorer.kill();
  };
  const isSymptom = (error: unknown) =>
    isBrokenPipe(error) || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
  const watchExit = (running: RunningTool, rank: number) =>
    running.exited.then((exit) => {
      if (succeeded(exit) || committing) return;
      if (exit.error instanceof ProviderError) return report(exit.error, 0);
      const symptom = (aborting && exit.signal !== null) || diedOfBrokenPipe(running, exit);
      report(toolFailure(running, exit, false), symptom ? SYMPTOM : rank);
    });
  const checkExit = async (running: RunningTool) => {
    const exit = await running.exited;
    if (!succeeded(exit)) throw toolFailure(running, exit, false);
  };

  let nextProgress = PROGRESS_EVERY_BYTES;
  const hasher = new Sha256Counter({
    onBytes: (bytes) => {
      if (bytes < nextProgress) return;
      nextProgress = bytes + PROGRESS_EVERY_BYTES;
      options.onProgress?.({ bytes, ...(totalBytes !== undefined ? { totalBytes } : {}) });
    },
    beforeEnd: async (counter) => {
      if (totalBytes !== undefined && counter.bytes !== totalBytes) {
        throw new ProviderError(
          `The artifact download ended after ${counter.bytes} of ${totalBytes} bytes; the database was not changed`,
          'ArtifactUnreadable',
        );
      }
      if (expected !== undefined && counter.sha256 !== expected) {
        throw new ProviderError(
          `The artifact's SHA-256 is ${counter.sha256}, the backup recorded ${expected}: it is corrupted or was replaced; the database was not changed`,
          'ChecksumMismatch',
        );
      }
    },
  });
  let downloaded: Promise<void> | undefined;
  const gate = new TailGate(HELD_SCRIPT_BYTES, async (tail) => {
    // The script has ended; its last bytes, the COMMIT among them, wait here for the verdict.
    await downloaded;
    await checkExit(decompressor);
    await checkExit(restorer);
    if (!/^COMMIT;$/m.test(tail.toString('utf8'))) {
      // Should pg_restore ever put its COMMIT elsewhere, fail rather than commit unverified data.
      throw new ProviderError('pg_restore did not end its script with COMMIT', 'RestoreFailed');
    }
    if (aborting) throw new ProviderError('The restore was aborted', 'RestoreFailed');
    committing = true;
  });

  downloaded = pipeline(source, hasher, decompressor.child.stdin as NodeJS.WritableStream);
  downloaded.catch((error: Error) => {
    if (error instanceof ProviderError) report(error, 0);
    else if (aborting || isSymptom(error)) report(error, SYMPTOM);
    else if (isTransientS3Error(error))
      report(
        new TransientError(`Downloading the artifact failed: ${errorMessage(error)}`, { cause: error }),
        0,
      );
    else
      report(
        new ProviderError(`Downloading the artifact failed: ${errorMessage(error)}`, 'ArtifactUnreadable'),
        0,
      );
  });
  const stdin = runner.child.stdin as NodeJS.WritableStream;
  stdin.write(restorePrelude(options.lockTimeoutMs ?? 60_000));
  const scripted = pipeline(restorer.child.stdout as Readable, gate, stdin);
  scripted.catch((error: Error) => report(error, error instanceof ProviderError ? 5 : SYMPTOM));

  void watchExit(decompressor, 1);
  void watchExit(restorer, 2);
  const onAbort = () => signal && report(abortedError('restore', signal), 0);
  signal?.addEventListener('abort', onAbort, { once: true });
  let outcome: Error | undefined;
  try {
    const psqlExit = await runner.exited;
    if (committing) {
      // The COMMIT was sent: psql's exit status is the outcome.
      if (!succeeded(psqlExit)) outcome = toolFailure(runner, psqlExit, true);
    } else if (succeeded(psqlExit)) {
      report(new ProviderError('psql ended before the restore script did', 'RestoreFailed'), 3);
    } else {
      const symptom = (aborting && psqlExit.signal !== null) || isBrokenPipe(psqlExit.error);
      report(toolFailure(runner, psqlExit, false), symptom ? SYMPTOM : 3);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  await Promise.allSettled([downloaded, scripted, decompressor.exited, restorer.exited]);
  if (outcome) throw outcome;
  const cause = failures.reduce<{ error: Error; rank: number } | undefined>(
    (first, candidate) => (!first || candidate.rank < first.rank ? candidate : first),
    undefined,
  );
  if (cause) throw cause.error;
  return {
    sizeBytes: hasher.bytes,
    sha256: hasher.sha256 ?? '',
    verified: expected !== undefined,
    startedAt,
    completedAt: new Date().toISOString(),
    toolVersion: pgRestore.version,
    serverVersion: server.version,
  };
};

const toolFailure = (running: RunningTool, exit: ToolExit, committing: boolean): Error => {
  const outcome = committing
    ? 'The restore failed while committing; check the database'
    : 'The restore was rolled back; the database was not changed';
  const message = `${describeExit(running, exit)}\n${outcome}`;
  if (running.tool.name === 'psql' && looksTransient(message)) return new TransientError(message);
  const code =
    running.tool.name === 'psql' || running.tool.name === 'pg_restore'
      ? 'RestoreFailed'
      : 'DecompressionFailed';
  return new ProviderError(message, code);
};

const downloadFailure = (error: Error, key: string): Error => {
  if (error.name === 'NoSuchKey' || error.name === 'NotFound') {
    return new ProviderError(`The backup artifact ${key} does not exist`, 'ArtifactNotFound', {
      cause: error,
    });
  }
  const message = `Downloading the backup artifact ${key} failed: ${errorMessage(error)}`;
  return isTransientS3Error(error)
    ? new TransientError(message, { cause: error })
    : new ProviderError(message, 'ArtifactUnreadable', { cause: error });
};
