import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { errorMessage, PlatformError, ProviderError, TransientError } from '../errors.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import { JOB_APPLICATION_NAMES } from './application-names.ts';
import { type Decompression, resolveCodec, type ToolPaths } from './compression.ts';
import type { S3Target } from './dump.ts';
import type { DumpFormat, DumpTool, RestorePlan, ServerInfo } from './dump-tool.ts';
import { dumpToolFor } from './dump-tools.ts';
import { abortedError, isTransientS3Error } from './job-errors.ts';
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
  engine: Engine;
  s3: S3Target;
  compression: Decompression;
  /** What the artifact holds, when detected from an uploaded file; absent = the tool's own dumps. */
  format?: DumpFormat;
  /** The SHA-256 recorded at backup time; on a mismatch nothing is committed. */
  expectedSha256?: string;
  /**
   * Names this restore (the operation id) for a dump tool that stages it: a retry of the same
   * restore may resume where a crashed one stopped. A fresh id when absent.
   */
  restoreId?: string;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
  /** Where the decompressors are, when not on PATH. */
  tools?: ToolPaths;
  /** The engine's dump tool, instead of the registry's (tests: one with other client tools). */
  dumpTool?: DumpTool;
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
  /** The first line of `--version` of the tool that read the artifact. */
  toolVersion: string;
  serverVersion: string;
  /**
   * Milliseconds from the job's start to each stage's end, for where the time went: `planned`
   * (server asked, tools found), `downloaded` (the artifact's last byte read and hashed), each
   * process's exit by its tool's name (the decompressor, the filters, the loader), `completed`.
   */
  stages: Record<string, number>;
}

const APPLICATION_NAME = JOB_APPLICATION_NAMES.restore;
const PROGRESS_EVERY_BYTES = 8 * 1024 ** 2;
/**
 * What a direct load (RestorePlan.direct) holds back of the artifact: more than a compressed block
 * of any codec (zstd's are at most 128 KiB, deflate's smaller), so the decompressor cannot write
 * the archive's last byte, and the filter cannot end the script, before the release.
 */
const HELD_ARTIFACT_BYTES = 1024 * 1024;
/** The rank of a failure that is a consequence of another (a broken pipe, a kill): reported last. */
const SYMPTOM = 99;

/**
 * Restores a dump artifact over the database, all or nothing:
 *
 *   S3 GetObject ──> SHA-256 ──> zstd -d|gzip -d ──(OS pipes)──> filters ──> hold-back ──> loader
 *                                                                                 prelude ^
 *
 * The engine's dump tool (DumpTool.prepareRestore) says which processes turn the artifact into a
 * script (the filters, possibly none), which one applies it (the loader, reading stdin), what to
 * send it first (the prelude), and how the result becomes visible:
 *
 * - a held tail: the script's last bytes (the COMMIT of a script that runs as one transaction) are
 *   held back in this process until the whole artifact has been read and its SHA-256 matched, and
 *   the decompressor and every filter have exited 0. Any failure before that kills the loader, the
 *   server rolls the transaction back, and the database is exactly as it was.
 * - commit/discard: the loader fills a staging area; once it exited 0 and everything upstream
 *   was verified, `commit()` makes the result visible. Any failure or abort before that calls
 *   `discard()`, which removes what was staged, and then the cause is thrown. A `commit()` that
 *   fails is not discarded: the tool resumes it when the same restore runs again.
 *
 * Either way a corrupted or truncated artifact cannot leave a half-restored database behind. The
 * loader never sees the end of its input before the artifact is verified, even without a held tail.
 *
 * A verified artifact with a plan that allows it (`direct`) skips the copy of the script through
 * this process: the loader reads the last filter's output straight from it, and what is held back
 * is the artifact's own last bytes, before the decompressor (see RestorePlan.direct).
 */
export const runRestore = async (options: RestoreOptions): Promise<RestoreJobResult> => {
  const { connection, s3, compression, signal } = options;
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const stages: Record<string, number> = {};
  const mark = (stage: string) => {
    stages[stage] = Math.round(performance.now() - started);
  };
  if (signal?.aborted) throw abortedError('restore', signal);
  const expected = options.expectedSha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) {
    throw new ProviderError(`The expected SHA-256 "${options.expectedSha256}" is not 64 hex digits`);
  }
  const tool = options.dumpTool ?? dumpToolFor(options.engine);
  // The codec is checked while the server is asked (a server error is still the one reported),
  // and before the plan: it has no side effects, and a missing one fails before anything is staged.
  const checkingCodec = resolveCodec(compression, options.tools);
  checkingCodec.catch(() => undefined);
  const server = await tool.inspect(connection, APPLICATION_NAME);
  const codec = await checkingCodec;
  if (signal?.aborted) throw abortedError('restore', signal);
  const plan = await tool.prepareRestore(connection, server, {
    applicationName: APPLICATION_NAME,
    restoreId: options.restoreId ?? randomUUID(),
    lockTimeoutMs: options.lockTimeoutMs ?? 60_000,
    ...(options.format ? { format: options.format } : {}),
  });
  const discard = () => plan.discard?.().catch(() => undefined);
  if (plan.alreadyLoaded) return finishLoaded(plan, options, { startedAt, expected, server });
  mark('planned');

  let verified: { bytes: number; sha256: string };
  try {
    if (signal?.aborted) throw abortedError('restore', signal);
    const object = await s3.client
      .send(new GetObjectCommand({ Bucket: s3.bucket, Key: s3.key }), { abortSignal: signal })
      .catch((error: Error) => {
        if (signal?.aborted) throw abortedError('restore', signal);
        throw downloadFailure(error, s3.key);
      });
    const source = object.Body as Readable | undefined;
    if (!source) throw new ProviderError(`The artifact ${s3.key} has no body`, 'ArtifactUnreadable');
    verified = await streamIntoLoader({
      tool,
      plan,
      codec,
      source,
      totalBytes: object.ContentLength,
      expected,
      options,
      mark,
    });
    if (signal?.aborted) throw abortedError('restore', signal);
  } catch (error) {
    await discard();
    throw error;
  }
  if (plan.commit) {
    await plan.commit(signal).catch((error: unknown) => {
      if (error instanceof PlatformError) throw error;
      throw new ProviderError(`Committing the restore failed: ${errorMessage(error)}`, 'RestoreFailed', {
        cause: error,
      });
    });
  }
  return {
    sizeBytes: verified.bytes,
    sha256: verified.sha256,
    verified: expected !== undefined,
    startedAt,
    completedAt: new Date().toISOString(),
    toolVersion: plan.toolVersion,
    serverVersion: server.version,
    stages: { ...stages, completed: Math.round(performance.now() - started) },
  };
};

/**
 * An earlier run of this restore verified the artifact and passed its point of no return before
 * it died (the tool found its marker): only its commit is left. The artifact is neither read nor
 * loaded again; its size comes from S3 when it is still there.
 */
const finishLoaded = async (
  plan: RestorePlan,
  { s3, signal }: RestoreOptions,
  { startedAt, expected, server }: { startedAt: string; expected: string | undefined; server: ServerInfo },
): Promise<RestoreJobResult> => {
  await plan.commit?.(signal).catch((error: unknown) => {
    if (error instanceof PlatformError) throw error;
    throw new ProviderError(`Committing the restore failed: ${errorMessage(error)}`, 'RestoreFailed', {
      cause: error,
    });
  });
  const head = await s3.client
    .send(new HeadObjectCommand({ Bucket: s3.bucket, Key: s3.key }))
    .catch(() => undefined);
  return {
    sizeBytes: head?.ContentLength ?? 0,
    sha256: expected ?? '',
    verified: expected !== undefined,
    startedAt,
    completedAt: new Date().toISOString(),
    toolVersion: plan.toolVersion,
    serverVersion: server.version,
    stages: {},
  };
};

interface StreamInput {
  tool: DumpTool;
  plan: RestorePlan;
  codec: Awaited<ReturnType<typeof resolveCodec>>;
  source: Readable;
  totalBytes: number | undefined;
  expected: string | undefined;
  options: RestoreOptions;
  /** Records when a stage ended (RestoreJobResult.stages). */
  mark: (stage: string) => void;
}

/**
 * Start a restore plan's loader and its filters, from the last one, so that each process writes
 * straight into the next one's stdin; this process keeps no copy of those pipe ends, or the next
 * one would never see EOF. `first` is the process the data goes into (the loader when no filter).
 */
export const startLoadChain = (
  plan: Pick<RestorePlan, 'loader' | 'filters'>,
  /** RestorePlan.direct's loader arguments: the last filter then writes into the loader itself. */
  directArgs?: string[],
) => {
  const loader = startTool(plan.loader.tool, directArgs ?? plan.loader.args, {
    env: plan.loader.env,
    stdin: 'pipe',
    stdout: 'ignore',
  });
  const filters: RunningTool[] = [];
  for (const command of [...plan.filters].reverse()) {
    const next = filters[0] ?? (directArgs ? loader : undefined);
    filters.unshift(
      startTool(command.tool, command.args, {
        env: command.env,
        stdin: 'pipe',
        stdout: next?.child.stdin ?? 'pipe',
      }),
    );
    next?.child.stdin?.destroy();
  }
  return { loader, filters, first: filters[0] };
};

/**
 * Runs the processes of the plan until the loader has exited. Resolves once the loader exited 0
 * after the whole script, with the artifact verified and every upstream process exited 0; else
 * throws the cause, once every process has exited.
 */
const streamIntoLoader = async ({
  tool,
  plan,
  codec,
  source,
  totalBytes,
  expected,
  options,
  mark,
}: StreamInput): Promise<{ bytes: number; sha256: string }> => {
  const { signal } = options;
  const heldTail = plan.heldTail;
  const direct = expected !== undefined && plan.filters.length > 0 ? plan.direct : undefined;
  const { loader, filters, first } = startLoadChain(plan, direct?.loaderArgs);
  const decompressor = startTool(codec.tool, codec.decompressArgs, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdin: 'pipe',
    stdout: first?.child.stdin ?? 'pipe',
  });
  first?.child.stdin?.destroy();
  const upstream = [decompressor, ...filters];
  for (const running of [...upstream, loader]) void running.exited.then(() => mark(running.tool.name));
  const last = upstream[upstream.length - 1] as RunningTool;

  const failureOf = (running: RunningTool, exit: ToolExit, committing: boolean): Error => {
    const outcome = committing
      ? 'The restore failed while committing; check the database'
      : 'The restore was rolled back; the database was not changed';
    const message = `${describeExit(running, exit)}\n${outcome}`;
    return running === decompressor
      ? new ProviderError(message, 'DecompressionFailed')
      : tool.classifyFailure(message, 'restore');
  };

  // Failures are acted on at once (the loader killed, so nothing commits) but reported once every
  // process has exited: one failure causes others downstream and upstream (a dead filter breaks
  // the decompressor's pipe, a dead decompressor truncates the filter's input), and the one to
  // report is the cause. Lower rank = nearer the cause: the download and the decompressor, then
  // the filters in order, the loader, the script's end.
  const LOADER_RANK = 1 + upstream.length;
  const failures: Array<{ error: Error; rank: number }> = [];
  let aborting = false;
  /**
   * The script's end has gone to the loader: from now on its exit status is the outcome. For a
   * direct load that is once the last filter has exited 0 (it wrote the COMMIT last), not when the
   * artifact's held bytes went on: until then a failure or an abort still kills the loader.
   */
  let released = false;
  /** A direct load aborted as its last filter was ending: its COMMIT may have reached the loader. */
  let abortedAtEnd = false;
  const report = (error: Error, rank: number) => {
    if (released) return;
    failures.push({ error, rank });
    if (aborting) return;
    aborting = true;
    // The loader first, and for good: its work must end by the connection dropping, not by
    // anything more it might read.
    loader.kill(true);
    gate.destroy(error);
    hasher.destroy(error);
    source.destroy();
    // A direct load reads no stdout of the last filter here: nothing to destroy then.
    last.child.stdout?.destroy();
    for (const running of upstream) running.kill();
  };
  const isSymptom = (error: unknown) =>
    isBrokenPipe(error) || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
  const watchExit = (running: RunningTool, rank: number) =>
    running.exited.then((exit) => {
      if (succeeded(exit) || released) return;
      if (exit.error instanceof ProviderError) return report(exit.error, 0);
      const symptom = (aborting && exit.signal !== null) || diedOfBrokenPipe(running, exit);
      report(failureOf(running, exit, false), symptom ? SYMPTOM : rank);
    });
  const checkExit = async (running: RunningTool) => {
    const exit = await running.exited;
    if (!succeeded(exit)) throw failureOf(running, exit, false);
  };

  let nextProgress = PROGRESS_EVERY_BYTES;
  const hasher = new Sha256Counter({
    onBytes: (bytes) => {
      if (bytes < nextProgress) return;
      nextProgress = bytes + PROGRESS_EVERY_BYTES;
      options.onProgress?.({ bytes, ...(totalBytes !== undefined ? { totalBytes } : {}) });
    },
    beforeEnd: async (counter) => {
      mark('downloaded');
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
  const epilogue = heldTail?.epilogue ? Buffer.from(heldTail.epilogue) : undefined;
  const gate = direct
    ? // After the hasher's end, so the download is whole and its SHA-256 matched.
      new TailGate(HELD_ARTIFACT_BYTES, async () => {
        if (aborting) throw new ProviderError('The restore was aborted', 'RestoreFailed');
      })
    : new TailGate(
        heldTail?.bytes ?? 0,
        async (tail) => {
          // The script has ended; its last bytes wait here for the verdict.
          await downloaded;
          for (const running of upstream) await checkExit(running);
          if (heldTail && !heldTail.isComplete(tail.toString('utf8'))) {
            // Should the script ever end differently, fail rather than commit unverified data.
            throw new ProviderError(
              `The restore script from ${last.tool.name} did not end as expected; nothing was committed`,
              'RestoreFailed',
            );
          }
          if (aborting) throw new ProviderError('The restore was aborted', 'RestoreFailed');
          released = true;
        },
        epilogue,
      );

  const decompressorInput = decompressor.child.stdin as NodeJS.WritableStream;
  downloaded = direct
    ? pipeline(source, hasher, gate, decompressorInput)
    : pipeline(source, hasher, decompressorInput);
  downloaded.catch((error: Error) => {
    if (error instanceof ProviderError) report(error, 0);
    else if (aborting) report(error, SYMPTOM);
    // The decompressor closed its input: it is exiting, and its own exit says why (a wrong
    // format, say). Acting first would kill it before that exit is seen, and report a symptom.
    else if (isSymptom(error)) void decompressor.exited.then(() => report(error, SYMPTOM));
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
  let scripted: Promise<void> | undefined;
  if (direct) {
    // The loader's arguments carry the prelude, and the last filter writes into it. Registered
    // before the wait on this exit below, so `released` is settled when that resumes.
    void last.exited.then((exit) => {
      if (!succeeded(exit)) return;
      if (aborting) abortedAtEnd = true;
      else released = true;
    });
  } else {
    const stdin = loader.child.stdin as NodeJS.WritableStream;
    if (plan.prelude) stdin.write(plan.prelude);
    scripted = pipeline(last.child.stdout as Readable, gate, stdin);
    scripted.catch((error: Error) =>
      report(error, error instanceof ProviderError ? LOADER_RANK + 1 : SYMPTOM),
    );
  }
  upstream.forEach((running, index) => void watchExit(running, 1 + index));
  const onAbort = () => signal && report(abortedError('restore', signal), 0);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let outcome: Error | undefined;
  try {
    const loaderExit = await loader.exited;
    // The loader read its input's end only after the last filter closed it: wait for that exit
    // to be seen (the order of two children's exits is not the order they happened in).
    if (direct && succeeded(loaderExit)) await last.exited;
    if (released) {
      // The script's end was sent: the loader's exit status is the outcome. With a held tail that
      // end is the commit itself. A direct load's loader that exits non-zero committed nothing
      // (an error before the COMMIT, a failed COMMIT, or no COMMIT at all: the final check); only
      // one killed by a signal may have.
      if (!succeeded(loaderExit)) {
        const committing = direct ? loaderExit.signal !== null : heldTail !== undefined;
        outcome = failureOf(loader, loaderExit, committing);
      }
    } else if (succeeded(loaderExit)) {
      // After another failure its input was cut: then ending is a consequence, not the cause.
      report(
        new ProviderError(`${loader.tool.name} ended before the restore script did`, 'RestoreFailed'),
        aborting ? SYMPTOM : LOADER_RANK,
      );
    } else {
      const symptom = (aborting && loaderExit.signal !== null) || isBrokenPipe(loaderExit.error);
      report(failureOf(loader, loaderExit, false), symptom ? SYMPTOM : LOADER_RANK);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  await Promise.allSettled([downloaded, scripted, ...upstream.map((running) => running.exited)]);
  if (outcome && direct) {
    // The loader of a direct load fails its final check when the script stopped short: the cause
    // is then the process upstream that failed (not one that died of the loader's exit).
    for (const running of upstream) {
      const exit = await running.exited;
      if (succeeded(exit) || diedOfBrokenPipe(running, exit)) continue;
      outcome = failureOf(running, exit, false);
      break;
    }
  }
  if (outcome) throw outcome;
  if (abortedAtEnd) {
    throw new ProviderError(
      `The restore was aborted as ${last.tool.name} ended its script: it may have committed; check the database`,
      'RestoreFailed',
    );
  }
  const cause = failures.reduce<{ error: Error; rank: number } | undefined>(
    (nearest, candidate) => (!nearest || candidate.rank < nearest.rank ? candidate : nearest),
    undefined,
  );
  if (cause) throw cause.error;
  return { bytes: hasher.bytes, sha256: hasher.sha256 ?? '' };
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
