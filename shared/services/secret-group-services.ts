import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SecretGroupDocuments } from '../ports/secret-group-documents.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { AddonStore } from '../store/addon-store.ts';
import { SecretGroupStore } from '../store/secret-group-store.ts';
import { withConnectionDetailsHook } from './connection-details-hook.ts';
import { ExternalServiceService } from './external-services.ts';
import { SecretGroupPublisher } from './secret-group-publisher.ts';
import { SecretGroupService } from './secret-groups.ts';

export interface SecretGroupServices {
  store: SecretGroupStore;
  publisher: SecretGroupPublisher;
  secretGroups: SecretGroupService;
  externalServices: ExternalServiceService;
  /**
   * The secret store every writer of connection details must use: each `put` re-publishes the
   * groups that link what it wrote (connection-details-hook.ts).
   */
  secrets: SecretStore;
}

/**
 * Secret groups composed once, for both targets: `secrets` is the plain connection-detail store
 * and `documents` where groups are published; what it returns wraps `secrets` with the hook.
 */
export const secretGroupServices = (props: {
  client: DynamoDBDocumentClient;
  tableName: string;
  addons: Pick<AddonStore, 'findAddon'>;
  secrets: SecretStore;
  documents: SecretGroupDocuments;
  onHookError: (error: unknown, ref: { projectId: string; addonId: string }) => void;
  now?: () => Date;
}): SecretGroupServices => {
  const store = new SecretGroupStore({ client: props.client, tableName: props.tableName });
  const publisher = new SecretGroupPublisher({
    groups: store,
    secrets: props.secrets,
    documents: props.documents,
    ...(props.now ? { now: props.now } : {}),
  });
  const secretGroups = new SecretGroupService({
    groups: store,
    addons: props.addons,
    documents: props.documents,
    publisher,
  });
  const secrets = withConnectionDetailsHook(
    props.secrets,
    (ref) => publisher.connectionDetailsChanged(ref),
    props.onHookError,
  );
  const externalServices = new ExternalServiceService({
    groups: store,
    secrets: props.secrets,
    secretGroups,
  });
  return { store, publisher, secretGroups, externalServices, secrets };
};
