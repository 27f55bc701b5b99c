import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import type {
  GroupValues,
  SecretGroupDocuments,
  SecretGroupRef,
} from '../../ports/secret-group-documents.ts';
import { assertSafeIds } from '../../util/safe-ids.ts';

const ValuesSchema = z.record(z.string(), z.string());

/**
 * Secret-group documents as one JSON file per group under `<dir>/<projectId>/<groupId>.json`,
 * readable by the platform's user only (0600): what a local workload reads (or `GET .../document`).
 */
export class FileGroupDocuments implements SecretGroupDocuments {
  constructor(private readonly dir: string) {}

  locationOf(ref: SecretGroupRef): string {
    assertSafeIds({ projectId: ref.projectId, groupId: ref.groupId });
    return join(this.dir, ref.projectId, `${ref.groupId}.json`);
  }

  async put(ref: SecretGroupRef, values: GroupValues): Promise<void> {
    const path = this.locationOf(ref);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Write then rename: a reader never sees a half-written document.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(values, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  }

  async get(ref: SecretGroupRef): Promise<GroupValues | undefined> {
    try {
      return ValuesSchema.parse(JSON.parse(await readFile(this.locationOf(ref), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(ref: SecretGroupRef): Promise<void> {
    await rm(this.locationOf(ref), { force: true });
  }
}
