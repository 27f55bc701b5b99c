import type { Target } from '../../schemas/catalog.ts';

/**
 * What the catalog says of Redis addons beside its flags, per target: what a capability that is
 * off lacks, and how the engine is run. Kept out of the engine facts, so only the functions that
 * show the catalog or quote it in a refusal carry these strings.
 */
export const redisNotes: Record<Target, string[]> = {
  aws: [
    "Credential rotation (credentialRotation) gives the addon's RBAC user a second password (ModifyUser with both) and publishes it once ElastiCache has applied it: each rotate or finish answers 202 with a rotate-credentials operation that usually completes within a minute, and GET .../credentials answers the previous credentials until then. The new password is staged meanwhile as the Secrets Manager secret's AWSPENDING version and becomes AWSCURRENT when published. Finishing (or the deadline, checked by the reconciler every 5 minutes) leaves the new password as the only one. A rotation that fails is undone: the user keeps only the published password.",
    'Forks are not available for Redis addons: a snapshot carries the ACL user of the addon it was taken from (users are named after the addon), so it cannot seed another addon as is.',
    'Each addon is an Amazon ElastiCache (Redis OSS) replication group without cluster mode: one primary and up to 5 read replicas (automatic failover and Multi-AZ with replicas), encrypted at rest with the deployment key and in transit. TLS cannot be turned off (`rediss://`); the connection details name an RBAC user of the addon and database 0.',
    'Redis has no logical dump: dump backups are never offered. Snapshot backups are ElastiCache snapshots, each also exported to S3 as an RDB file (ElastiCache CopySnapshot) with its SHA-256, so it can be downloaded. ElastiCache cannot restore into an existing group, so a restore moves the addon to a new replication group: the host in the connection details changes (the user and password do not), and the restore operation says so.',
    'No point-in-time recovery (ElastiCache has none). No public access and so no networking changes (networkingUpdate): ElastiCache offers no public endpoint at all (nodes are reachable only from inside their VPC, whatever the subnet), and TLS is always on, required by RBAC users.',
    "Imports (importDump) seed a new replication group with the uploaded RDB file (ElastiCache reads it from S3), then move the addon onto it like a snapshot restore: the data is replaced all or nothing, the host in the connection details changes (the user and password do not) and the operation says so. The file's format must be one the addon's engine version reads (an RDB written by a newer Redis fails the import and leaves the addon as it was), its data must fit the node's memory, and it must come from a Redis without cluster mode; files are limited to 5 GiB.",
    'Live imports (importLive) are not offered: Redis has no logical dump to stream from a running server; import an RDB file (importDump) instead.',
    "Read replicas (replicas, up to 5), at create or by PATCH (IncreaseReplicaCount/DecreaseReplicaCount; the primary keeps serving). The connection details publish the group's reader endpoint once (replicas: one entry), which follows failovers. Going to 0 turns Multi-AZ off first; replicas added with multiAz on get it back. Restores carry the replicas over.",
    'Plan changes (scaling) change the node type (ModifyReplicationGroup; ElastiCache keeps serving); storageGiB stays 1. Multi-AZ (multiAz) is failover to a replica: on for an addon created with replicas; PATCH multiAz true needs 1 replica; replicas 0 suspends it.',
    'Upgrades (upgrade) are in place (ModifyReplicationGroup EngineVersion; every node, same endpoints), after a kept snapshot. No downgrades.',
  ],
  local: [
    'Forks are not available for Redis addons: a snapshot carries the ACL user of the addon it was taken from (users are named after the addon), so it cannot seed another addon as is.',
    "The local target runs Debian's redis-server 7.0 with append-only-file persistence; the connection details name an ACL user (the default user is off) and database 0. Plans size local servers as on AWS: the plan's memory is the server's maxmemory, and a full server refuses writes (noeviction) rather than evicting keys.",
    'Redis has no logical dump: dump backups are never offered. Snapshot backups are RDB files written by BGSAVE while the server keeps serving, streamed to the backup bucket with their SHA-256 so they can be downloaded (`redis-check-rdb` or any Redis 7.0+ loads them); a restore loads one as the base of a new append-only file.',
    'TLS is opt-in locally (tls: true at create, or PATCH networking): the port then speaks TLS only (tls-port, rediss://), with a certificate from a CA made per data directory, given in the connection details (caCertificate): redis-cli --tls --cacert ca.pem. Public access (publicAccess) is not offered locally: Redis has no per-source host rules, so an allow list would need a firewall the platform does not manage; local addons listen on 127.0.0.1.',
    "Read replicas (PATCH replicas, up to 5) are redis-server processes on their own ports, private (127.0.0.1), following the primary with replicaof (TLS on the link and the port while the primary requires it), read-only (writes answer -READONLY), read with the addon's own user, whose passwords (rotations included) the platform writes on each replica as on the primary. A snapshot restore or an RDB import of the primary seeds them again from the restored data (same ports) before it completes.",
    'Imports (importDump) load an uploaded RDB file (e.g. from redis-cli --rdb), replacing the data all or nothing like a snapshot restore; its format must be one this server reads.',
    'Live imports (importLive) are not offered: Redis has no logical dump to stream from a running server; import an RDB file (importDump) instead.',
    'A plan change (scaling) sets the new maxmemory and restarts the server, which reloads its append-only file. Redis has no storage size: storageGiB stays 1.',
    'Multi-AZ (multiAz) is AWS-only: the local target runs one server process on one machine, with no standby to fail over to.',
    'Upgrades (upgrade) are not available locally: one version installed locally (Debian redis-server 7.0).',
  ],
};
