import { BACKED_UP, type EngineFacts, RDS_SIZING, uriOf } from '../engine-facts.ts';

/**
 * The staging and retired databases of an all-or-nothing dump restore (shared/jobs/mysql/staging.ts):
 * fixed names, one server per addon. The local target grants the customer user these two too.
 */
export const RESTORE_STAGING_DATABASE = 'addons_restore';
export const RESTORE_RETIRED_DATABASE = 'addons_retired';

/** The server's own schemas, and the databases a dump restore stages in and swaps through: no addon may take them. */
export const RESERVED_DATABASES: readonly string[] = [
  'mysql',
  'sys',
  'information_schema',
  'performance_schema',
  RESTORE_STAGING_DATABASE,
  RESTORE_RETIRED_DATABASE,
];

export const mysql: EngineFacts = {
  catalog: {
    displayName: 'MySQL',
    service: { aws: 'Amazon RDS for MySQL', local: 'MariaDB server process' },
    versions: { aws: ['8.0', '8.4'], local: ['10.11'] },
    defaultVersion: { aws: '8.4', local: '10.11' },
    ...RDS_SIZING,
    capabilities: {
      // Snapshots are RDS DB snapshots (restored to a new instance, then swapped in); dumps run
      // as Fargate tasks streaming the engine's dump tool to S3. TLS: parameter groups with
      // require_secure_transport on (infra/aws/constructs/engines/mysql.ts).
      aws: {
        ...BACKED_UP,
        tls: true,
        // As PostgreSQL: the other parameter group and a reboot, PubliclyAccessible and one
        // security-group rule per allowed CIDR (shared/providers/aws/rds/rds-networking.ts).
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
      // Locally: MariaDB 10.11 from Debian (mariadb-server), the MySQL-compatible server the
      // machine can install; snapshots are online physical copies taken with mariadb-backup.
      local: {
        ...BACKED_UP,
        importDump: true,
        fork: true,
        importLive: true,
        credentialRotation: true,
        // TLS with a certificate from the data directory's CA (require_secure_transport); public:
        // listening on every interface with one account per allowed CIDR (mysql/hosts.ts).
        tls: true,
        publicAccess: true,
        networkingUpdate: true,
        // The plan sizes innodb_buffer_pool_size and max_connections (mysql/sizing.ts).
        scaling: true,
        // Seeded by mariadb-backup, following the binary log by GTID (infra/local/engines/mysql/replicas.ts).
        replicas: true,
      },
    },
    // Locally TLS stays opt-in, as for PostgreSQL: clients must be given the platform's own CA.
    tlsOptIn: ['local'],
  },
  // MySQL Shell and Connector/J read `ssl-mode`; most drivers take the same name.
  connectionUri: (secret) => uriOf('mysql', secret, secret.tls ? { 'ssl-mode': 'REQUIRED' } : {}),
  // mariadb-dump / mysqldump output: an SQL script.
  dumpExtension: 'sql',
  reservedDatabaseNames: RESERVED_DATABASES,
};
