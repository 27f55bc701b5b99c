import { RESERVED_DATABASES } from '../../../engines/mysql/index.ts';
import type { RdsEngineProfile } from '../rds/rds-engine-provider.ts';

/** Names RDS keeps for itself on every instance. */
const RESERVED_USERS = new Set(['rdsadmin', 'rdsrepladmin']);

/**
 * Amazon RDS for MySQL 8.0 and 8.4. One parameter group family per major (`mysql8.0`,
 * `mysql8.4`); the deployment's TLS groups set `require_secure_transport=ON`, the plain ones
 * `OFF` (infra/aws/constructs/engines/mysql.ts). Versions are majors: RDS picks the default minor
 * and AutoMinorVersionUpgrade keeps it current.
 *
 * The customer user is the RDS master user, as for PostgreSQL. RDS gives it global privileges
 * (every database of the instance, user management), not the database-scoped user the local
 * target creates. A bootstrap step creating a user with privileges on its own database only
 * would have to connect to the instance, so it would need a job inside the VPC (like the dump
 * jobs): the platform's functions never connect to databases. Until then the addon's instance
 * is the customer's alone, so the wider grant reaches nothing of another tenant.
 */
export const mysqlRdsProfile: RdsEngineProfile = {
  engine: 'mysql',
  rdsEngine: 'mysql',
  label: 'MySQL',
  port: 3306,
  parameterGroupKey: (version) => version,
  // CreateDBInstance's MasterUsername rules for MySQL: shorter than PostgreSQL's.
  usernameProblem: (username) => {
    if (!/^[a-zA-Z][a-zA-Z0-9]{0,15}$/.test(username))
      return '1 to 16 letters or digits, starting with a letter';
    if (RESERVED_USERS.has(username.toLowerCase())) return 'RDS reserves that name';
    return undefined;
  },
  databaseNameProblem: (database) => {
    if (!/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/.test(database))
      return '1 to 64 letters, digits or underscores, starting with a letter';
    if (RESERVED_DATABASES.includes(database.toLowerCase()))
      return 'the server or the platform already uses that name';
    return undefined;
  },
};
