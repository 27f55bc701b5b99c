import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorMessage, ProviderError, TransientError } from '../errors.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Compression } from '../schemas/backup.ts';
import type { Engine } from '../schemas/catalog.ts';
import { JOB_APPLICATION_NAMES } from './application-names.ts';
import { resolveCodec, type ToolPaths } from './compression.ts';
import type { DumpTool } from './dump-tool.ts';
import { dumpToolFor } from './dump-tools.ts';
import { abortedError, isTransientS3Error } from './job-errors.ts';
import {
  describeExit,
  diedOfBrokenPipe,
  type RunningTool,
  startTool,
  succeeded,
  type ToolExit,
} from './processes.ts';
import { Sha256Counter } from './streams.ts';
import { MAX_PARTS, planUpload, type UploadPlan } from './upload-plan.ts';

export interface S3Target {
  client: S3Client;
  bucket: string;
  key: string;
}

export interface DumpProgress {
  /** Compressed bytes produced so far (what the artifact will be). */
  bytes: number;
  /** Bytes whose upload S3 has acknowledged. */
  uploadedBytes: number;
  parts: number;
}

export interface DumpOptions {
  connection: Credentials;
  engine: Engine;
  s3: S3Target;
  compression: Compression;
  /** Roughly how large the artifact will be; sizes the upload parts. The database's own size caps it. */
  estimatedBytes?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DumpProgress) => void;
  /** Where the compressors are, when not on PATH. */
  tools?: ToolPaths;
  /** The engine's dump tool, instead of the registry's (tests: one with other client tools). */
  dumpTool?: DumpTool;
  /** Overrides of the planned part size and concurrency (tuning, tests); normally from the estimate. */
  upload?: Partial<Pick<UploadPlan, 'partSize' | 'queueSize'>>;
}

export interface DumpJobResult {
  /** Size of the uploaded artifact (compressed), which is the S3 object's size. */
  sizeBytes: number;
  /** Hex SHA-256 of the uploaded artifact's bytes. */
  sha256: string;
  compression: Compression;
  startedAt: string;
  completedAt: string;
  /** The first line of the dump tool's `--version`: restoring may need a tool at least this new. */
  toolVersion: string;
  serverVersion: string;
  partSize: number;
}

const APPLICATION_NAME = JOB_APPLICATION_NAMES.dump;
const ABORT_GRACE_MS = 30_000;

/**
 * A logical backup streamed to S3, never through a temporary file:
 *
 *   engine's dump tool ──(OS pipe)──> zstd|gzip ──> SHA-256 + byte count ──> S3 multipart upload
 *
 * The dump tool (the engine's DumpTool says which, with which arguments and environment) writes
 * the database uncompressed straight into the compressor's stdin (the pipe is handed from one
 * child to the other), so only compressed bytes pass through Node. Backpressure runs end to end:
 * lib-storage reads the next part only when an upload slot is free, the compressor blocks on a
 * full pipe, and the dump tool blocks on the compressor; memory is the parts in flight whatever
 * the database size.
 *
 * The body only ends once the dump tool and the compressor have both exited 0: a dump tool that
 * dies half way still closes its output, and a compressor that sees EOF writes a well-formed,
 * truncated artifact that must not become an object. Any failure (a tool, the upload, an abort)
 * kills both processes, ends the body with the error so lib-storage aborts the multipart upload
 * (no orphan parts), and is thrown once every process has exited and the abort has been sent.
 */
export const runDump = async (options: DumpOptions): Promise<DumpJobResult> => {
  const { connection, s3, compression, signal } = options;
  const startedAt = new Date().toISOString();
  if (signal?.aborted) throw abortedError('dump', signal);
  const tool = options.dumpTool ?? dumpToolFor(options.engine);
  // The compressor is checked while the server is asked; a server error is still the one reported.
  const checkingCodec = resolveCodec(compression, options.tools);
  checkingCodec.catch(() => undefined);
  const server = await tool.inspect(connection, APPLICATION_NAME);
  const [command, codec] = await Promise.all([
    tool.dumpCommand(connection, server, APPLICATION_NAME),
    checkingCodec,
  ]);
  if (signal?.aborted) throw abortedError('dump', signal);
  const plan = {
    ...planUpload(Math.min(options.estimatedBytes ?? Number.POSITIVE_INFINITY, server.databaseBytes)),
    ...options.upload,
  };

  const compressor = startTool(codec.tool, codec.compressArgs, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdin: 'pipe',
    stdout: 'pipe',
  });
  // The dump tool writes into the compressor's stdin directly; this process keeps no copy of that
  // pipe end, or the compressor would never see EOF.
  const dumper = startTool(command.tool, command.args, {
    env: command.env,
    stdin: 'ignore',
    stdout: compressor.child.stdin ?? 'ignore',
  });
  compressor.child.stdin?.destroy();

  let failure: Error | undefined;
  let bodyEnded = false;
  const children: RunningTool[] = [dumper, compressor];
  const checkExit = (running: RunningTool, exit: ToolExit): Error | undefined => {
    if (succeeded(exit)) return undefined;
    if (exit.error instanceof ProviderError) return exit.error;
    const message = describeExit(running, exit);
    return running === dumper
      ? tool.classifyFailure(message, 'dump')
      : new ProviderError(message, 'CompressionFailed');
  };
  const body = new Sha256Counter({
    beforeEnd: async () => {
      // Input ended: both processes have closed their output. Only a clean exit of both ends the body.
      for (const running of children) {
        const error = checkExit(running, await running.exited);
        if (error) throw error;
      }
      bodyEnded = true;
    },
  });
  let unstick: NodeJS.Timeout | undefined;
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    body.destroy(error);
    // Unread output would keep the compressor (and its 'close') waiting forever.
    compressor.child.stdout?.destroy();
    for (const running of children) running.kill();
    // lib-storage sends AbortMultipartUpload once its part uploads in flight have returned. An S3
    // that never answers would hold the job forever: give up waiting after a while (the bucket's
    // AbortIncompleteMultipartUpload lifecycle rule then removes the parts).
    unstick = setTimeout(() => void upload.abort(), ABORT_GRACE_MS);
    unstick.unref();
  };
  const allExited = Promise.all(children.map((running) => running.exited));
  for (const running of children) {
    void running.exited.then((exit) => {
      const error = checkExit(running, exit);
      if (!error) return;
      // The dump tool failing because the compressor died (a broken pipe, seen as a signal or as an
      // exit whose stderr may not have arrived yet): let the compressor's own failure be the one
      // reported. A compressor that is fine exits on the dump's EOF, so waiting costs nothing.
      if (running !== compressor || diedOfBrokenPipe(running, exit)) void allExited.then(() => fail(error));
      else fail(error);
    });
  }
  compressor.child.stdout?.on('error', (error) => fail(error));
  compressor.child.stdout?.pipe(body);
  const onAbort = () => {
    // Once the body has ended the upload is completing: the artifact is whole, let it finish.
    if (!bodyEnded && signal) fail(abortedError('dump', signal));
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const upload = new Upload({
    client: s3.client,
    params: { Bucket: s3.bucket, Key: s3.key, Body: body, ContentType: codec.contentType },
    partSize: plan.partSize,
    queueSize: plan.queueSize,
    leavePartsOnError: false,
  });
  let uploadedBytes = 0;
  let parts = 0;
  upload.on('httpUploadProgress', (progress) => {
    uploadedBytes = progress.loaded ?? uploadedBytes;
    parts = Math.max(parts, progress.part ?? 0);
    options.onProgress?.({ bytes: body.bytes, uploadedBytes, parts });
  });
  try {
    await upload.done();
  } catch (error) {
    fail(uploadFailure(error as Error, plan.partSize * MAX_PARTS));
  } finally {
    signal?.removeEventListener('abort', onAbort);
    clearTimeout(unstick);
  }
  await allExited;
  if (failure) throw failure;
  const sha256 = body.sha256;
  if (!sha256) throw new ProviderError('The dump ended without a checksum', 'DumpFailed');
  return {
    sizeBytes: body.bytes,
    sha256,
    compression,
    startedAt,
    completedAt: new Date().toISOString(),
    toolVersion: command.toolVersion,
    serverVersion: server.version,
    partSize: plan.partSize,
  };
};

const uploadFailure = (error: Error, capacityBytes: number): Error => {
  if (error instanceof ProviderError || error instanceof TransientError) return error;
  if (/Exceeded \d+ parts/.test(error.message)) {
    return new ProviderError(
      `The dump outgrew its upload plan (${capacityBytes} bytes in 10,000 parts): give the job a larger estimatedBytes`,
      'UploadFailed',
      { cause: error },
    );
  }
  const message = `Uploading the dump to S3 failed: ${errorMessage(error)}`;
  return isTransientS3Error(error)
    ? new TransientError(message, { cause: error })
    : new ProviderError(message, 'UploadFailed', { cause: error });
};
