import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

// Helpers of the live-import e2e tests: where a password could be left, and a source nobody serves.

/** Every file under `dir` that contains `needle` (the platform's data: store, workflows, secrets). */
export const filesContaining = async (dir: string, needle: string): Promise<string[]> => {
  const found: string[] = [];
  const bytes = Buffer.from(needle);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const content = await readFile(path).catch(() => undefined);
    if (content?.includes(bytes)) found.push(path);
  }
  return found;
};

/** The live imports' connection strings the local secret store holds under `dataDir`. */
export const liveSecretFiles = async (dataDir: string) =>
  (await readdir(join(dataDir, 'secrets'), { recursive: true }).catch(() => [] as string[])).filter((name) =>
    String(name).includes('imp-'),
  );

/** A port nothing listens on: bound, then closed. */
export const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};
