import { Worker } from 'node:worker_threads';

/**
 * A worker thread of the platform's process running the module at `moduleUrl`, which serves when
 * it finds its `workerData` (the emulators: emulator-thread.ts; the job processes:
 * job-processes.ts). `npm start` runs the platform bundled (infra/local/start.mjs), where the
 * module's file is JavaScript (an entry of its own, `ownUrl`), and the worker loads it as it is.
 * From its TypeScript source (tests and benchmarks that import the platform), a bootstrap
 * registers tsx on the thread first (Node 20 does not give a worker the loader hooks its process
 * was started with).
 */
export const platformThread = (moduleUrl: string, workerData: unknown): Worker => {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(moduleUrl), { workerData });
  const self = JSON.stringify(moduleUrl);
  // By URL: the bootstrap resolves bare names from the working directory, which may be anywhere.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then(({ register }) => { register(); return import(${self}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
};
