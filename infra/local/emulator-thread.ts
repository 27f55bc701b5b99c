import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { lowerThisThread } from './priority.ts';

/**
 * The emulators (dynalite, s3rver) each run on a worker thread of the platform's process, not on
 * its event loop. Every byte of a backup or restore passes through s3rver (a dump job streams to
 * it, a restore job reads from it) and every store call through dynalite: on the main thread they
 * queued the API gateway's requests behind their own work, and under 8 concurrent backups a
 * `GET` of an addon took seconds (docs/performance.md, "Reads under load"). On their own threads
 * they keep their own event loops, and the gateway answers between their chunks.
 *
 * The thread lives and dies with the process, as the emulator did: a crash or a kill ends both.
 */

export type EmulatorKind = 's3' | 'dynamo';

interface ThreadData {
  kind: EmulatorKind;
  /** The directory the emulator persists under. */
  directory: string;
}

type FromThread = { port: number } | { error: string };

export interface EmulatorThread {
  endpoint: string;
  stop(): Promise<void>;
}

/** The server of one emulator, started on this thread. */
const serve = async ({ kind, directory }: ThreadData): Promise<{ port: number; close(): Promise<void> }> => {
  if (kind === 's3') {
    const { serveS3 } = await import('./s3-server.ts');
    return serveS3(directory);
  }
  const { serveDynamo } = await import('./dynamo-server.ts');
  return serveDynamo(directory);
};

/**
 * The worker runs this module. `npm start` runs the platform bundled (infra/local/start.mjs), where
 * this module's file is JavaScript, and the worker loads it as it is. From its TypeScript source
 * (tests and benchmarks that import the platform), a bootstrap registers tsx on the thread first
 * (Node 20 does not give a worker the loader hooks its process was started with).
 */
const newThread = (data: ThreadData): Worker => {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(import.meta.url), { workerData: data });
  const self = JSON.stringify(import.meta.url);
  // By URL: the bootstrap resolves bare names from the working directory, which may be anywhere.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then(({ register }) => { register(); return import(${self}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
};

/** Start the `kind` emulator on a new worker thread, persisting under `directory`. */
export const startEmulatorThread = async (kind: EmulatorKind, directory: string): Promise<EmulatorThread> => {
  const worker = newThread({ kind, directory });
  let stopping = false;
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (message: FromThread) =>
      'port' in message
        ? resolve(message.port)
        : reject(new Error(`The ${kind} emulator did not start: ${message.error}`)),
    );
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`The ${kind} emulator's thread exited (${code}) before it listened`)),
    );
  });
  worker.on('exit', (code) => {
    // The platform cannot work without it: fail loudly, and the restart's recovery takes over.
    if (!stopping) throw new Error(`The ${kind} emulator's thread exited unexpectedly (${code})`);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      const timer = setTimeout(() => void worker.terminate(), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
};

if (!isMainThread && parentPort && (workerData as Partial<ThreadData> | undefined)?.kind) {
  const port = parentPort;
  // Its bytes are the jobs' (dumps uploaded, restores read): background work like the jobs.
  if ((workerData as ThreadData).kind === 's3') lowerThisThread();
  serve(workerData as ThreadData).then(
    (server) => {
      port.on('message', (message) => {
        if (message !== 'stop') return;
        void server.close().finally(() => port.close());
      });
      port.postMessage({ port: server.port } satisfies FromThread);
    },
    (error: unknown) => {
      port.postMessage({
        error: error instanceof Error ? error.message : String(error),
      } satisfies FromThread);
      port.close();
    },
  );
}
