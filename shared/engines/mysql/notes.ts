import type { Target } from '../../schemas/catalog.ts';

/**
 * What the catalog says of MySQL addons beside its flags, per target: what a capability that is
 * off lacks, and how the engine is run. Kept out of the engine facts, so only the functions that
 * show the catalog or quote it in a refusal carry these strings.
 */
export const mysqlNotes: Record<Target, string[]> = {
  aws: [
    "Credential rotation (credentialRotation) is local-only for now: on AWS the addon's user is the RDS master user, which has one password. PostgreSQL addons rotate by the login job (a second login acting as the master user); on MySQL a second account needs the master user's global grants copied one by one (RDS withholds SUPER and others, and accounts there are per host), which the login job does not do yet.",
    "Networking changes (PATCH networking) are an update-networking operation of minutes: TLS on or off switches the parameter group (require_secure_transport) and reboots the instance (a short outage); public turns RDS PubliclyAccessible on and admits each allowed CIDR on port 3306 of the addon's own security group (the endpoint keeps its DNS name, which resolves to the public address from outside the VPC). Only addons created in the public DB subnets (every addon since they exist) can go public: RDS documents a subnet group change only for moving an instance to another VPC; fork an older addon instead.",
    "Read replicas (PATCH replicas, up to 15) are RDS read replicas of the addon's instance (CreateDBInstanceReadReplica, `<instance>-replica-N`), as for PostgreSQL: same class, subnet and security group, the source's parameter group and KMS key; the source keeps its automated backups, which RDS requires. They are added once the addon runs (a create with replicas is refused); restores and upgrades are refused while the addon has replicas.",
    'The connection details are those of the RDS master user, which has privileges on every database of the instance.',
  ],
  local: [
    'The local target runs MariaDB 10.11 (Debian mariadb-server), not Oracle MySQL: MySQL clients and drivers connect to it, but MySQL 8-only features (e.g. caching_sha2_password, some JSON functions) differ.',
    'Plans size the local server: innodb_buffer_pool_size is a sixteenth of the plan memory (RDS: three quarters; locally less, so several addons fit on one machine), max_connections follows the RDS formula (memory / 12582880 bytes). A plan change restarts the server (open connections are dropped). Storage is enforced: once the data directory reaches storageGiB the server is put read-only (read_only; writes fail with error 1290, reads are served) and storage.readOnly says so, until storage grows or the data takes under 95 % of it (docs/scaling.md).',
    'Multi-AZ (multiAz) is AWS-only: the local target runs one server process on one machine, with no standby to fail over to.',
    'Dumps are mariadb-dump SQL scripts; snapshots are online copies taken with mariadb-backup.',
    'Upgrades (upgrade) are not available locally: one version installed locally (Debian mariadb-server 10.11).',
    'Point-in-time restore is not available for local MySQL addons: their binary logs are not archived yet (PostgreSQL addons have it locally).',
    "TLS is opt-in locally (tls: true at create, or PATCH networking): require_secure_transport with a certificate from a CA made per data directory, given in the connection details (caCertificate). A private addon listens on 127.0.0.1 and its accounts admit only 127.0.0.1; a public one listens on every interface and the customer's user has one account per allowed CIDR (MariaDB host grants, user@'address/netmask'), every other account of it locked.",
    "Read replicas (PATCH replicas, up to 5) are MariaDB servers on their own ports, private (127.0.0.1) whatever the primary, seeded from the running primary by mariadb-backup (no downtime) and following its binary log by GTID (MASTER_USE_GTID), read-only (read_only; writes fail with error 1290), read with the addon's own user. Every local MySQL addon keeps a binary log (a day of it, counted against its storage); one started before replicas existed gets it at its next start. A snapshot restore of the primary seeds them again from the restored data (same ports) before it completes; a dump restore reaches them through the binary log.",
  ],
};
