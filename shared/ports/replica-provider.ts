/** Where one read replica answers. */
export interface ReplicaAddress {
  host: string;
  port: number;
}

export type ReplicaSetState =
  /** Replicas are being added or removed. */
  | { status: 'applying'; ready: number; wanted: number }
  /**
   * Exactly `wanted` replicas run and follow the primary: their endpoints in order (replica 1
   * first), or the one reader endpoint that spreads reads over them where the service has one
   * (ElastiCache, DocumentDB); none for 0.
   */
  | { status: 'available'; endpoints: ReplicaAddress[] }
  | { status: 'failed'; reason: string };

/**
 * Read replicas of an instance: RDS read replicas, ElastiCache replica nodes and DocumentDB
 * reader instances on AWS; streaming standbys locally. Replicas are numbered from 1 and removed
 * from the highest number down, so a count is all a caller names. Every method is idempotent:
 * Step Functions retries tasks and a restarted platform runs the workflow in flight again.
 * The primary keeps serving throughout.
 */
export interface ReplicaProvider {
  /**
   * Begin making the instance's replicas exactly `count`: add the missing ones, remove the ones
   * above it. Returns quickly where the work is slow (AWS); `describeReplicas` reports it.
   * Called with the previous count, it is also the compensation of a change that failed: a
   * half-created replica is deleted. Resolves `more` where the change takes further steps, each
   * once the service is done with the last (ElastiCache): call it again after a wait.
   */
  setReplicaCount(resourceId: string, count: number, change?: ReplicaChange): Promise<'more' | undefined>;
  /**
   * Where the replicas stand against `count`. With `change` (the update-replicas workflow's
   * wait), a provider whose change takes several steps takes the next one once the previous is
   * done (ElastiCache: Multi-AZ off before the last replica goes, back on once replicas run).
   */
  describeReplicas(resourceId: string, count: number, change?: ReplicaChange): Promise<ReplicaSetState>;
}

/**
 * What else the addon asks of its replicas: `multiAz`, where the service fails over to a replica
 * (ElastiCache), turns Multi-AZ and automatic failover on whenever there are replicas.
 */
export interface ReplicaChange {
  multiAz: boolean;
}
