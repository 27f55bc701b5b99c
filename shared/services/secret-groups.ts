import { ConflictError, type FieldIssue, NotFoundError, ValidationError } from '../errors.ts';
import type { SecretGroupDocuments } from '../ports/secret-group-documents.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type {
  CreateSecretGroupRequest,
  SecretGroup,
  SecretGroupDocument,
  SecretGroupLink,
  UpdateSecretGroupRequest,
} from '../schemas/secret-group.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { SecretGroupRecord, SecretGroupStore } from '../store/secret-group-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { groupRefOf, type SecretGroupPublisher, sourceIdOf } from './secret-group-publisher.ts';

export interface SecretGroupServiceDeps {
  groups: SecretGroupStore;
  addons: Pick<AddonStore, 'findAddon'>;
  documents: Pick<SecretGroupDocuments, 'get' | 'locationOf'>;
  publisher: SecretGroupPublisher;
}

/** A group as linked from a source: what a refused delete names. */
export interface GroupLinkRef {
  id: string;
  name: string;
}

/**
 * Secret groups: project-level sets of links (an addon's or external service's connection
 * details, each chosen key under an alias) and plain variables, published as one document
 * (secret-group-publisher.ts). Every change is validated as a whole, then recorded, then published.
 */
export class SecretGroupService {
  constructor(private readonly deps: SecretGroupServiceDeps) {}

  toSecretGroup({
    revision: _r,
    documentHash: _h,
    deletingAt: _d,
    ...group
  }: SecretGroupRecord): SecretGroup {
    return { ...group, documentLocation: this.deps.documents.locationOf(groupRefOf(group)) };
  }

  async create(projectId: string, request: CreateSecretGroupRequest): Promise<SecretGroup> {
    await this.validate(projectId, request.links, request.variables);
    const now = nowIso();
    const record: SecretGroupRecord = {
      id: newId('sgr'),
      projectId,
      name: request.name,
      description: request.description ?? null,
      links: request.links,
      variables: request.variables,
      documentVersion: 0,
      publishedAt: null,
      createdAt: now,
      updatedAt: now,
      revision: 1,
      documentHash: null,
    };
    await this.deps.groups.createGroup(record);
    try {
      return this.toSecretGroup(await this.deps.publisher.publish(record));
    } catch (error) {
      // No half-created group: a group whose first document could not be written is removed.
      await this.deps.publisher.finishDelete(record).catch(() => undefined);
      throw error;
    }
  }

  async list(projectId: string, page: PaginationQuery): Promise<Page<SecretGroup>> {
    const result = await this.deps.groups.listGroups(projectId, page);
    return {
      items: result.items.filter((group) => !group.deletingAt).map((group) => this.toSecretGroup(group)),
      nextCursor: result.nextCursor,
    };
  }

  async get(projectId: string, groupId: string): Promise<SecretGroup> {
    return this.toSecretGroup(await this.live(projectId, groupId));
  }

  async update(projectId: string, groupId: string, request: UpdateSecretGroupRequest): Promise<SecretGroup> {
    const current = await this.live(projectId, groupId);
    const links = request.links ?? current.links;
    const variables = request.variables ?? current.variables;
    await this.validate(projectId, links, variables);
    const updated = await this.deps.groups.updateGroup(current, {
      ...(request.name !== undefined ? { name: request.name } : {}),
      ...(request.description !== undefined ? { description: request.description } : {}),
      links,
      variables,
      updatedAt: nowIso(),
    });
    return this.toSecretGroup(await this.deps.publisher.publish(updated));
  }

  async delete(projectId: string, groupId: string): Promise<void> {
    const current = await this.live(projectId, groupId);
    const marked = await this.deps.groups.updateGroup(current, { deletingAt: nowIso() });
    await this.deps.publisher.finishDelete(marked);
  }

  /** The published document: the secret values, read as a workload would. */
  async document(projectId: string, groupId: string): Promise<SecretGroupDocument> {
    let group = await this.live(projectId, groupId);
    // Published at create; a stale one (its hook missed) is published here before it is read.
    group = await this.deps.publisher.publish(group);
    const values = (await this.deps.documents.get(groupRefOf(group))) ?? {};
    return { groupId, documentVersion: group.documentVersion, publishedAt: group.publishedAt, values };
  }

  /** The groups of the project that link `sourceId` (an addon or an external service). */
  async linksTo(projectId: string, sourceId: string): Promise<GroupLinkRef[]> {
    const groups = await this.deps.groups.allGroupsOf(projectId);
    return groups
      .filter((group) => !group.deletingAt && group.links.some((link) => sourceIdOf(link) === sourceId))
      .map((group) => ({ id: group.id, name: group.name }));
  }

  /**
   * Refuse (409, naming the groups) unless `unlink`; with it, remove every link to `sourceId` from
   * the project's groups and publish them, before the source itself goes.
   */
  async releaseSource(projectId: string, sourceId: string, unlink: boolean, field: string): Promise<void> {
    const linked = await this.linksTo(projectId, sourceId);
    if (linked.length === 0) return;
    if (!unlink) {
      const names = linked.map((group) => `'${group.name}' (${group.id})`).join(', ');
      throw new ConflictError(
        `${sourceId} is linked into secret group${linked.length > 1 ? 's' : ''} ${names}: unlink it first, or ask for the delete with ${field}=true`,
        { field },
      );
    }
    for (const { id } of linked) {
      const group = await this.deps.groups.getGroup(projectId, id);
      const updated = await this.deps.groups.updateGroup(group, {
        links: group.links.filter((link) => sourceIdOf(link) !== sourceId),
        updatedAt: nowIso(),
      });
      await this.deps.publisher.publish(updated);
    }
  }

  private async live(projectId: string, groupId: string): Promise<SecretGroupRecord> {
    const group = await this.deps.groups.getGroup(projectId, groupId);
    if (group.deletingAt) throw new NotFoundError(`Secret group ${groupId} not found`);
    return group;
  }

  /** Aliases unique across the whole document; every source exists in this project and is not going away. */
  private async validate(
    projectId: string,
    links: SecretGroupLink[],
    variables: Record<string, string>,
  ): Promise<void> {
    const issues: FieldIssue[] = [];
    const seen = new Map<string, string>();
    const claim = (alias: string, path: string) => {
      const first = seen.get(alias);
      if (first) issues.push({ path, message: `alias ${alias} is already used by ${first}` });
      else seen.set(alias, path);
    };
    for (const [index, link] of links.entries()) {
      for (const [keyIndex, { alias }] of link.keys.entries())
        claim(alias, `body.links.${index}.keys.${keyIndex}.alias`);
    }
    for (const name of Object.keys(variables)) claim(name, `body.variables.${name}`);
    for (const [index, link] of links.entries()) {
      if (link.addonId) {
        const addon = await this.deps.addons.findAddon(projectId, link.addonId);
        if (!addon) {
          issues.push({
            path: `body.links.${index}.addonId`,
            message: `no addon ${link.addonId} in this project`,
          });
        } else if (addon.status === 'deleting') {
          issues.push({
            path: `body.links.${index}.addonId`,
            message: `addon ${link.addonId} is being deleted`,
          });
        }
      } else if (link.externalServiceId) {
        try {
          await this.deps.groups.getExternal(projectId, link.externalServiceId);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          issues.push({
            path: `body.links.${index}.externalServiceId`,
            message: `no external service ${link.externalServiceId} in this project`,
          });
        }
      }
    }
    if (issues.length > 0) throw new ValidationError('The secret group is not valid', issues);
  }
}
