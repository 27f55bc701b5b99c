export interface SecretGroupRef {
  projectId: string;
  groupId: string;
}

/** A secret group's published document: alias -> value, every value a string. */
export type GroupValues = Record<string, string>;

/**
 * Where a secret group's document is published for workloads: one Secrets Manager secret (JSON)
 * on AWS, one 0600 JSON file locally.
 */
export interface SecretGroupDocuments {
  put(ref: SecretGroupRef, values: GroupValues): Promise<void>;
  get(ref: SecretGroupRef): Promise<GroupValues | undefined>;
  /** Idempotent: deleting a missing document succeeds. */
  delete(ref: SecretGroupRef): Promise<void>;
  /** What a workload reads: the secret name, or the file path. */
  locationOf(ref: SecretGroupRef): string;
}
