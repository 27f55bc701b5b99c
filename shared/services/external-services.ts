import type { SecretStore } from '../ports/secret-store.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type { CreateExternalServiceRequest, ExternalService } from '../schemas/secret-group.ts';
import type { ExternalServiceRecord, SecretGroupStore } from '../store/secret-group-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { parseExternalConnectionString } from './external-connection.ts';
import { sourceSecretRef } from './secret-group-publisher.ts';
import type { SecretGroupService } from './secret-groups.ts';

export interface ExternalServiceDeps {
  groups: SecretGroupStore;
  /** Where the connection details go: the same store as addons', under the service's id. */
  secrets: Pick<SecretStore, 'put' | 'delete'>;
  secretGroups: Pick<SecretGroupService, 'releaseSource'>;
}

const toExternalService = ({ revision: _revision, ...service }: ExternalServiceRecord): ExternalService =>
  service;

/**
 * Databases the platform does not run, registered by connection string so secret groups can link
 * them like addons. The string is parsed and checked, then kept in the secret store only: the
 * record and every response carry its host, port, database, user and TLS, never the string or
 * the password.
 */
export class ExternalServiceService {
  constructor(private readonly deps: ExternalServiceDeps) {}

  async register(projectId: string, request: CreateExternalServiceRequest): Promise<ExternalService> {
    const details = parseExternalConnectionString(request.connectionString);
    const now = nowIso();
    const record: ExternalServiceRecord = {
      id: newId('ext'),
      projectId,
      name: request.name,
      description: request.description ?? null,
      engine: details.engine,
      host: details.host,
      port: details.port,
      database: details.database,
      username: details.username,
      tls: details.tls,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    // Secret first: a record never names details that are not there. A failed record write removes it.
    await this.deps.secrets.put(sourceSecretRef(projectId, record.id), details);
    try {
      await this.deps.groups.createExternal(record);
    } catch (error) {
      await this.deps.secrets.delete(sourceSecretRef(projectId, record.id)).catch(() => undefined);
      throw error;
    }
    return toExternalService(record);
  }

  async list(projectId: string, page: PaginationQuery): Promise<Page<ExternalService>> {
    const result = await this.deps.groups.listExternals(projectId, page);
    return { items: result.items.map(toExternalService), nextCursor: result.nextCursor };
  }

  async get(projectId: string, externalServiceId: string): Promise<ExternalService> {
    return toExternalService(await this.deps.groups.getExternal(projectId, externalServiceId));
  }

  /** Refused while linked into a group unless `unlinkGroups`; the record goes, then its secret. */
  async delete(projectId: string, externalServiceId: string, unlinkGroups: boolean): Promise<void> {
    await this.deps.groups.getExternal(projectId, externalServiceId);
    await this.deps.secretGroups.releaseSource(projectId, externalServiceId, unlinkGroups, 'unlinkGroups');
    await this.deps.groups.deleteExternal(projectId, externalServiceId);
    await this.deps.secrets.delete(sourceSecretRef(projectId, externalServiceId));
  }
}
