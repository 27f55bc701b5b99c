import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretGroupStore } from '#shared/store/secret-group-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';

type Call = (
  fn: 'credentials' | 'addons',
  label: string,
  route:
    | 'createSecretGroup'
    | 'listSecretGroups'
    | 'getSecretGroup'
    | 'updateSecretGroup'
    | 'deleteSecretGroup'
    | 'getSecretGroupDocument'
    | 'registerExternalService'
    | 'listExternalServices'
    | 'getExternalService'
    | 'deleteExternalService'
    | 'createAddon'
    | 'deleteAddon',
  options: object,
) => Promise<Record<string, unknown>>;

/**
 * Two groups the reconciler's sweep must act on: one whose recorded document is stale (a crash
 * after its addon's details changed: published again) and one whose delete was interrupted
 * (finished: its document and record deleted).
 */
export const seedSecretGroupsForSweep = async (
  client: DynamoDBDocumentClient,
  tableName: string,
  projectId: string,
  addonId: string,
): Promise<void> => {
  const groups = new SecretGroupStore({ client, tableName });
  const base = {
    projectId,
    name: 'swept',
    description: null,
    links: [{ addonId, keys: [{ key: 'uri' as const, alias: 'DATABASE_URL' }] }],
    variables: { MODE: 'swept' },
    documentVersion: 1,
    publishedAt: nowIso(),
    createdAt: nowIso(),
    updatedAt: nowIso(),
    revision: 1,
    documentHash: 'stale',
  };
  await groups.createGroup({ ...base, id: newId('sgr') });
  await groups.createGroup({ ...base, id: newId('sgr'), name: 'half-deleted', deletingAt: nowIso() });
};

/**
 * Secret groups and external services through the credentials function (their secrets created,
 * read and deleted), and an addon linked into one: its delete refused, then unlinking (the
 * addons function publishes the group without it).
 */
export const exerciseSecretGroups = async (call: Call, projectId: string, addonId: string): Promise<void> => {
  const project = { projectId };
  const external = await call('credentials', 'registerExternal', 'registerExternalService', {
    pathParameters: project,
    body: { name: 'reporting', connectionString: 'postgresql://report:s3cret@db.example.com:5432/reports' },
  });
  const externalServiceId = external.id as string;
  const group = await call('credentials', 'createGroup', 'createSecretGroup', {
    pathParameters: project,
    body: {
      name: 'web',
      links: [
        { addonId, keys: [{ key: 'uri', alias: 'DATABASE_URL' }] },
        { externalServiceId, keys: [{ key: 'uri', alias: 'REPORTING_URL' }] },
      ],
      variables: { NODE_ENV: 'production' },
    },
  });
  const groupId = group.id as string;
  const path = { projectId, groupId };
  await call('credentials', 'getGroup', 'getSecretGroup', { pathParameters: path });
  await call('credentials', 'updateGroup', 'updateSecretGroup', {
    pathParameters: path,
    body: { variables: { NODE_ENV: 'staging' } },
  });
  await call('credentials', 'groupDocument', 'getSecretGroupDocument', { pathParameters: path });
  const first = await call('credentials', 'groupPagesFirst', 'listSecretGroups', {
    pathParameters: project,
    query: { limit: '1' },
  });
  await call('credentials', 'groupPagesNext', 'listSecretGroups', {
    pathParameters: project,
    query: { limit: '1', cursor: String(first.nextCursor) },
  });
  await call('credentials', 'listExternals', 'listExternalServices', { pathParameters: project });
  await call('credentials', 'getExternal', 'getExternalService', {
    pathParameters: { projectId, externalServiceId },
  });
  await call('credentials', 'deleteLinkedExternal', 'deleteExternalService', {
    pathParameters: { projectId, externalServiceId },
  });
  await call('credentials', 'deleteExternal', 'deleteExternalService', {
    pathParameters: { projectId, externalServiceId },
    query: { unlinkGroups: 'true' },
  });

  // An addon linked into a second group: refused; then asked to unlink, which the addons function
  // does (publishing the group without it) before the delete is refused again, this time because
  // its create is still in flight.
  const linked = await call('addons', 'createLinked', 'createAddon', {
    pathParameters: project,
    body: { name: 'iam-linked', engine: 'postgresql' },
  });
  const linkedId = (linked.addon as { id: string }).id;
  const second = await call('credentials', 'createLinkedGroup', 'createSecretGroup', {
    pathParameters: project,
    body: { name: 'worker', links: [{ addonId: linkedId, keys: [{ key: 'host', alias: 'DB_HOST' }] }] },
  });
  await call('addons', 'deleteLinked', 'deleteAddon', { pathParameters: { projectId, addonId: linkedId } });
  await call('addons', 'deleteUnlinking', 'deleteAddon', {
    pathParameters: { projectId, addonId: linkedId },
    query: { unlinkGroups: 'true' },
  });
  await call('credentials', 'deleteGroup', 'deleteSecretGroup', { pathParameters: path });
  await call('credentials', 'deleteLinkedGroup', 'deleteSecretGroup', {
    pathParameters: { projectId, groupId: second.id as string },
  });
};

export const SECRET_GROUP_STATUSES = {
  registerExternal: 201,
  createGroup: 201,
  getGroup: 200,
  updateGroup: 200,
  groupDocument: 200,
  groupPagesFirst: 200,
  groupPagesNext: 200,
  listExternals: 200,
  getExternal: 200,
  deleteLinkedExternal: 409,
  deleteExternal: 204,
  createLinked: 202,
  createLinkedGroup: 201,
  deleteLinked: 409,
  deleteUnlinking: 409,
  deleteGroup: 204,
  deleteLinkedGroup: 204,
};
