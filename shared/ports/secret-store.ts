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
}
