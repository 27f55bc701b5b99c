import type { Credentials } from '../schemas/addon.ts';

export interface AddonRef {
  projectId: string;
  addonId: string;
}

/** Connection details as stored: host and port stay empty until the instance is available. */
export type ConnectionSecret = Credentials;

/** Connection-detail storage port: Secrets Manager on AWS, a 0600 file store locally. */
export interface SecretStore {
  put(ref: AddonRef, secret: ConnectionSecret): Promise<void>;
  get(ref: AddonRef): Promise<ConnectionSecret | undefined>;
  /** Idempotent: deleting a missing secret succeeds. */
  delete(ref: AddonRef): Promise<void>;
  /**
   * Staged connection details, for a change the engine takes up asynchronously (a credential
   * rotation on ElastiCache): `stage` writes them as the pending version named `token` (Secrets
   * Manager's AWSPENDING stage), which `get` does not answer; `staged` reads it back (undefined
   * unless the pending version is `token`'s); `promote` makes it the published version (AWSCURRENT,
   * the previous one AWSPREVIOUS) and `discard` drops the pending stage. Each is idempotent.
   * Absent where every change is published at once (the local file store).
   */
  stage?(ref: AddonRef, secret: ConnectionSecret, token: string): Promise<void>;
  staged?(ref: AddonRef, token: string): Promise<ConnectionSecret | undefined>;
  promote?(ref: AddonRef, token: string): Promise<void>;
  discard?(ref: AddonRef, token: string): Promise<void>;
}

/** A store that keeps staged versions. */
export type StagingSecretStore = Required<SecretStore>;

export const canStage = (store: SecretStore): store is StagingSecretStore =>
  Boolean(store.stage && store.staged && store.promote && store.discard);
