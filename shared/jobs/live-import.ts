import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EngineRegistry } from '../engines/registry.ts';
import { errorMessage, PlatformError, ProviderError } from '../errors.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import { JOB_APPLICATION_NAMES } from './application-names.ts';
import type { DumpTool } from './dump-tool.ts';
import { dumpToolFor } from './dump-tools.ts';
import { abortedError } from './job-errors.ts';
import type { LiveSourceTool } from './live-source.ts';
import { MysqlLiveSource } from './mysql/live-source.ts';
import { PostgresLiveSource } from './postgresql/live-source.ts';
import { describeExit, diedOfBrokenPipe, type RunningTool, startTool, succeeded } from './processes.ts';
import { startLoadChain } from './restore.ts';
import { TailGate } from './streams.ts';

const LIVE_SOURCES = new EngineRegistry<LiveSourceTool>('live import source', {
  postgresql: () => new PostgresLiveSource(),
  mysql: () => new MysqlLiveSource(),
});

export interface LiveImportOptions {
  /** The addon's connection details. */
  connection: Credentials;
  /** The source's, from the secret store. */
  source: Credentials;
  engine: Engine;
  /** The operation id: names the restore for a tool that stages it. */
  restoreId?: string;
  signal?: AbortSignal;
  /** Tests: other tools. */
  dumpTool?: DumpTool;
  sourceTool?: LiveSourceTool;
  lockTimeoutMs?: number;
  /** How long the TCP check waits for the source. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface LiveImportResult {
  startedAt: string;
  completedAt: string;
  sourceVersion: string;
  serverVersion: string;
  dumpToolVersion: string;
  restoreToolVersion: string;
}

const APPLICATION_NAME = JOB_APPLICATION_NAMES.restore;

/**
 * Every message of a live import passes through here before anyone sees it: the source's
 * password (and its percent-encoded form in the connection string) can never reach an operation,
 * the import or a log, even should a tool ever echo it.
 */
export const scrubSecret = (text: string, source: Pick<Credentials, 'password' | 'uri'>): string => {
  let scrubbed = text;
  for (const secret of [source.uri, source.password, encodeURIComponent(source.password)]) {
    if (secret.length >= 1) scrubbed = scrubbed.split(secret).join('***');
  }
  return scrubbed;
};

const scrubbed = (error: unknown, source: Credentials): Error => {
  const message = scrubSecret(errorMessage(error), source);
  if (error instanceof PlatformError) {
    // The same class and code, a clean message and no cause (a cause could carry the text).
    const copy = Object.create(Object.getPrototypeOf(error)) as PlatformError;
    Object.assign(copy, error, { message, cause: undefined, stack: `${error.name}: ${message}` });
    return copy;
  }
  return new ProviderError(message, 'LiveImportFailed');
};

/** A plain TCP connect: tells "nothing listens there / no route" apart from refused credentials. */
export const checkReachable = (host: string, port: number, timeoutMs = 10_000): Promise<void> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (reason: string) => {
      socket.destroy();
      reject(
        new ProviderError(
          `The source database at ${host}:${port} is not reachable: ${reason}. It must accept TCP connections from the platform's jobs`,
          'SourceUnreachable',
        ),
      );
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });

/**
 * Streams the source database into the addon, all or nothing, with no intermediate file:
 *
 *   source ──> dump tool ──(OS pipe)──> restore filters ──> hold-back ──> loader ──> addon
 *
 * Checked first: the source is reachable (TCP), its credentials work, and its major is not newer
 * than the addon's. Then the addon's own restore plan (the restore job's: PostgreSQL one
 * transaction whose COMMIT is held back, MySQL a staging database swapped in) loads what the dump
 * tool writes; the restore commits only once the dump tool and every filter exited 0. Any failure
 * before kills the loader and discards what was staged: the addon's data is untouched.
 */
export const runLiveImport = async (options: LiveImportOptions): Promise<LiveImportResult> => {
  try {
    return await liveImport(options);
  } catch (error) {
    throw scrubbed(error, options.source);
  }
};

const liveImport = async (options: LiveImportOptions): Promise<LiveImportResult> => {
  const { connection, source, signal } = options;
  const startedAt = new Date().toISOString();
  const sourceTool = options.sourceTool ?? LIVE_SOURCES.of(options.engine);
  const tool = options.dumpTool ?? dumpToolFor(options.engine);
  await checkReachable(source.host, source.port, options.connectTimeoutMs);
  const sourceInfo = await sourceTool.inspect(source);
  const server = await tool.inspect(connection, APPLICATION_NAME);
  if (!sourceTool.loadsInto(sourceInfo, server)) {
    throw new ProviderError(
      `The source at ${source.host}:${source.port} runs version ${sourceInfo.version}, newer than the addon's ${server.major}: import into an addon of version ${sourceInfo.major} or newer`,
      'SourceTooNew',
    );
  }
  const dump = await sourceTool.dumpCommand(source, sourceInfo);
  if (signal?.aborted) throw abortedError('restore', signal);
  const plan = await tool.prepareRestore(connection, server, {
    applicationName: APPLICATION_NAME,
    restoreId: options.restoreId ?? randomUUID(),
    lockTimeoutMs: options.lockTimeoutMs ?? 60_000,
  });
  const discard = () => plan.discard?.().catch(() => undefined);
  if (!plan.alreadyLoaded) {
    try {
      await streamDump(dump, plan, tool, signal);
      if (signal?.aborted) throw abortedError('restore', signal);
    } catch (error) {
      await discard();
      throw error;
    }
  }
  await plan.commit?.(signal).catch((error: unknown) => {
    if (error instanceof PlatformError) throw error;
    throw new ProviderError(`Committing the import failed: ${errorMessage(error)}`, 'RestoreFailed');
  });
  return {
    startedAt,
    completedAt: new Date().toISOString(),
    sourceVersion: sourceInfo.version,
    serverVersion: server.version,
    dumpToolVersion: dump.toolVersion,
    restoreToolVersion: plan.toolVersion,
  };
};

type Plan = Awaited<ReturnType<DumpTool['prepareRestore']>>;

/**
 * Runs dump tool, filters and loader until the loader exited; resolves once it exited 0 after the
 * whole script with every upstream process exited 0, else throws the failure nearest the cause
 * (the dump tool, then the filters in order, then the loader; broken pipes and kills are symptoms).
 */
const streamDump = async (
  dump: Awaited<ReturnType<LiveSourceTool['dumpCommand']>>,
  plan: Plan,
  tool: DumpTool,
  signal: AbortSignal | undefined,
): Promise<void> => {
  const { loader, filters, first } = startLoadChain(plan);
  const dumper = startTool(dump.tool, dump.args, {
    env: dump.env,
    stdin: 'ignore',
    stdout: first?.child.stdin ?? 'pipe',
  });
  first?.child.stdin?.destroy();
  const upstream = [dumper, ...filters];
  const last = upstream[upstream.length - 1] as RunningTool;

  const SYMPTOM = 99;
  const failures: Array<{ error: Error; rank: number }> = [];
  let aborting = false;
  let released = false;
  const failureOf = (running: RunningTool, exit: Awaited<RunningTool['exited']>) => {
    const message = `${describeExit(running, exit)}\nThe import was rolled back; the addon's data was not changed`;
    return running === dumper
      ? new ProviderError(`Dumping the source failed: ${message}`, 'SourceDumpFailed')
      : tool.classifyFailure(message, 'restore');
  };
  const report = (error: Error, rank: number) => {
    if (released) return;
    failures.push({ error, rank });
    if (aborting) return;
    aborting = true;
    loader.kill(true);
    gate.destroy(error);
    last.child.stdout?.destroy();
    for (const running of upstream) running.kill();
  };
  const gate = new TailGate(plan.heldTail?.bytes ?? 0, async (tail) => {
    for (const running of upstream) {
      const exit = await running.exited;
      if (!succeeded(exit)) throw failureOf(running, exit);
    }
    if (plan.heldTail && !plan.heldTail.isComplete(tail.toString('utf8'))) {
      throw new ProviderError(
        'The restore script did not end as expected; nothing was committed',
        'RestoreFailed',
      );
    }
    if (aborting) throw new ProviderError('The import was aborted', 'RestoreFailed');
    released = true;
  });
  const stdin = loader.child.stdin as NodeJS.WritableStream;
  if (plan.prelude) stdin.write(plan.prelude);
  const scripted = pipeline(last.child.stdout as Readable, gate, stdin);
  scripted.catch((error: Error) =>
    report(error, error instanceof ProviderError ? upstream.length + 2 : SYMPTOM),
  );
  upstream.forEach((running, index) => {
    void running.exited.then((exit) => {
      if (succeeded(exit) || released) return;
      if (exit.error instanceof ProviderError) return report(exit.error, 0);
      const symptom = (aborting && exit.signal !== null) || diedOfBrokenPipe(running, exit);
      report(failureOf(running, exit), symptom ? SYMPTOM : 1 + index);
    });
  });
  const onAbort = () => signal && report(abortedError('restore', signal), 0);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let outcome: Error | undefined;
  try {
    const loaderExit = await loader.exited;
    if (released) {
      if (!succeeded(loaderExit)) outcome = tool.classifyFailure(describeExit(loader, loaderExit), 'restore');
    } else if (succeeded(loaderExit)) {
      report(
        new ProviderError(`${loader.tool.name} ended before the dump did`, 'RestoreFailed'),
        aborting ? SYMPTOM : upstream.length + 1,
      );
    } else {
      const symptom = aborting && loaderExit.signal !== null;
      report(failureOf(loader, loaderExit), symptom ? SYMPTOM : upstream.length + 1);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  await Promise.allSettled([scripted, ...upstream.map((running) => running.exited)]);
  if (outcome) throw outcome;
  const cause = failures.reduce<{ error: Error; rank: number } | undefined>(
    (nearest, candidate) => (!nearest || candidate.rank < nearest.rank ? candidate : nearest),
    undefined,
  );
  if (cause) throw cause.error;
};
