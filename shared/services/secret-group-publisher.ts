import { createHash } from 'node:crypto';
import { errorMessage, StaleWriteError } from '../errors.ts';
import type { GroupValues, SecretGroupDocuments, SecretGroupRef } from '../ports/secret-group-documents.ts';
import type { AddonRef, ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import type { ConnectionKey, SecretGroupLink } from '../schemas/secret-group.ts';
import type { SecretGroupRecord, SecretGroupStore } from '../store/secret-group-store.ts';
import { replicaUriOf } from './replica-details.ts';

export interface SecretGroupPublisherDeps {
  groups: Pick<SecretGroupStore, 'getGroup' | 'updateGroup' | 'allGroupsOf' | 'scanGroups' | 'deleteGroup'>;
  /** Read only: where addons' (and external services') connection details are. */
  secrets: Pick<SecretStore, 'get'>;
  documents: SecretGroupDocuments;
  now?: () => Date;
}

/** The id of what a link points at: an addon or an external service. */
export const sourceIdOf = (link: SecretGroupLink): string =>
  (link.addonId ?? link.externalServiceId) as string;

/**
 * An external service's connection details live in the secret store under its own id in place of
 * an addon id (`<prefix><projectId>/ext-...` in Secrets Manager), like an addon's.
 */
export const sourceSecretRef = (projectId: string, sourceId: string): AddonRef => ({
  projectId,
  addonId: sourceId,
});

const keyValue = (secret: ConnectionSecret, key: ConnectionKey): string =>
  key === 'replicaUri' ? replicaUriOf(secret) : String(secret[key]);

/** The document's fingerprint: the same values in any order give the same hash. */
export const documentHashOf = (values: GroupValues): string =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
    .digest('hex');

export const groupRefOf = (group: { projectId: string; id: string }): SecretGroupRef => ({
  projectId: group.projectId,
  groupId: group.id,
});

/**
 * Publishes secret groups. A group's document is derived, never edited: its plain variables plus,
 * for each link, the chosen keys of the source's connection details as they are in the secret
 * store now. Publishing writes the document only when its hash differs from the one the record
 * holds, then records the new hash; so it is idempotent and can run again at any time.
 *
 * That is what makes re-publishing crash-safe: whatever writes an addon's connection details
 * calls `connectionDetailsChanged` afterwards (one hook, `connection-details-hook.ts`), and if a
 * crash falls between the two writes, the next `sweep` (the local scheduler's tick, the AWS
 * reconciler) finds the group's recorded hash stale against the sources and publishes it.
 * A source whose details are not ready yet (an addon still being created) contributes nothing
 * until its details are written, which calls the hook again.
 */
export class SecretGroupPublisher {
  private readonly now: () => Date;

  constructor(private readonly deps: SecretGroupPublisherDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async derive(group: Pick<SecretGroupRecord, 'projectId' | 'links' | 'variables'>): Promise<GroupValues> {
    const values: GroupValues = { ...group.variables };
    for (const link of group.links) {
      const secret = await this.deps.secrets.get(sourceSecretRef(group.projectId, sourceIdOf(link)));
      if (!secret?.host) continue;
      for (const { key, alias } of link.keys) values[alias] = keyValue(secret, key);
    }
    return values;
  }

  /**
   * Publish the group if its document is stale; returns the record as it is afterwards. A
   * concurrent publish that wins the record write makes this one derive again and write its
   * document once more, so the last document written is always derived from the newest record.
   */
  async publish(group: SecretGroupRecord): Promise<SecretGroupRecord> {
    let current = group;
    let overwritten = false;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (current.deletingAt) return current;
      const values = await this.derive(current);
      const hash = documentHashOf(values);
      if (hash === current.documentHash && !overwritten) return current;
      await this.deps.documents.put(groupRefOf(current), values);
      try {
        return await this.deps.groups.updateGroup(current, {
          documentHash: hash,
          documentVersion: current.documentVersion + 1,
          publishedAt: this.now().toISOString(),
        });
      } catch (error) {
        if (!(error instanceof StaleWriteError)) throw error;
        overwritten = true;
        current = await this.deps.groups.getGroup(current.projectId, current.id);
      }
    }
    throw new StaleWriteError(`Secret group ${group.id} kept changing while it was published; retry`);
  }

  /**
   * The hook: an addon's (or external service's) published connection details changed. Every
   * group of its project that links it is published again; returns their ids.
   */
  async connectionDetailsChanged(ref: AddonRef): Promise<string[]> {
    const published: string[] = [];
    for (const group of await this.deps.groups.allGroupsOf(ref.projectId)) {
      if (!group.links.some((link) => sourceIdOf(link) === ref.addonId)) continue;
      await this.publish(group);
      published.push(group.id);
    }
    return published;
  }

  /** Finish a group's delete: its document, then its record (the record marks the delete until then). */
  async finishDelete(group: SecretGroupRecord): Promise<void> {
    await this.deps.documents.delete(groupRefOf(group));
    await this.deps.groups.deleteGroup(group.projectId, group.id);
  }

  /**
   * The repair pass: every group whose document is stale is published, and every delete a crash
   * interrupted is finished. Returns what it did; one group's failure does not stop the others.
   */
  async sweep(): Promise<{
    published: string[];
    deleted: string[];
    failed: Array<{ id: string; reason: string }>;
  }> {
    const summary = {
      published: [] as string[],
      deleted: [] as string[],
      failed: [] as Array<{ id: string; reason: string }>,
    };
    for (const group of await this.deps.groups.scanGroups()) {
      try {
        if (group.deletingAt) {
          await this.finishDelete(group);
          summary.deleted.push(group.id);
          continue;
        }
        const after = await this.publish(group);
        if (after.documentVersion !== group.documentVersion) summary.published.push(group.id);
      } catch (error) {
        summary.failed.push({ id: group.id, reason: errorMessage(error) });
      }
    }
    return summary;
  }
}
