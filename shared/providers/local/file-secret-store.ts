import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AddonRef, ConnectionSecret, SecretStore } from '../../ports/secret-store.ts';
import { CredentialsSchema } from '../../schemas/addon.ts';
import { assertSafeIds } from '../../util/safe-ids.ts';

/** Connection details as one JSON file per addon, readable by the platform's user only (0600). */
export class FileSecretStore implements SecretStore {
  constructor(private readonly dir: string) {}

  /**
   * Ids become path segments here: an unsafe one would write outside the secrets directory. A
   * secret kept beside an addon's (`<addonId>/<name>`, as Secrets Manager names it: the platform's
   * admin login) is the file `<addonId>.<name>.json`; a safe id has no dot, so none collide.
   */
  private pathOf(ref: AddonRef): string {
    const [addonId, beside, ...more] = ref.addonId.split('/');
    assertSafeIds({ projectId: ref.projectId, addonId, beside });
    if (more.length > 0) assertSafeIds({ addonId: ref.addonId });
    return join(this.dir, ref.projectId, `${[addonId, beside].filter(Boolean).join('.')}.json`);
  }

  async put(ref: AddonRef, secret: ConnectionSecret): Promise<void> {
    const path = this.pathOf(ref);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Write then rename: a crash never leaves a half-written secret behind.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(secret), { mode: 0o600 });
    await rename(temporary, path);
  }

  async get(ref: AddonRef): Promise<ConnectionSecret | undefined> {
    try {
      return CredentialsSchema.parse(JSON.parse(await readFile(this.pathOf(ref), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(ref: AddonRef): Promise<void> {
    await rm(this.pathOf(ref), { force: true });
  }
}
