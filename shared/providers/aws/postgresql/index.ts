import { PLATFORM_LOGIN_USER } from '../../../services/platform-login.ts';
import type { RdsEngineProfile } from '../rds/rds-engine-provider.ts';

/** Names RDS keeps for itself on every instance. */
const RESERVED_USERS = new Set(['rdsadmin', 'rdsrepladmin', 'rds_superuser', PLATFORM_LOGIN_USER]);
/** Databases every PostgreSQL server already has. */
const RESERVED_DATABASES = new Set(['template0', 'template1', 'rdsadmin']);

/**
 * Amazon RDS for PostgreSQL. One parameter group family per major (`postgres17`); the
 * deployment's TLS groups set `rds.force_ssl=1`, the plain ones `0` (infra/aws/constructs/engines/
 * postgresql.ts). The customer user is the RDS master user (member of `rds_superuser`): the
 * platform's functions never connect to databases, so they cannot create a narrower one.
 * Credential rotation alternates it with a second login acting as it, by the login job, as the
 * platform's own admin role (`addons_admin`, reserved): shared/jobs/postgresql/login-job.ts.
 */
export const postgresqlRdsProfile: RdsEngineProfile = {
  engine: 'postgresql',
  rdsEngine: 'postgres',
  label: 'PostgreSQL',
  port: 5432,
  loginJob: true,
  // The catalog's versions are majors, and so are the parameter group families.
  parameterGroupKey: (version) => version,
  // CreateDBInstance's MasterUsername rules for PostgreSQL.
  usernameProblem: (username) => {
    if (!/^[a-zA-Z][a-zA-Z0-9_]{0,62}$/.test(username))
      return '1 to 63 letters, digits or underscores, starting with a letter';
    if (RESERVED_USERS.has(username.toLowerCase())) return 'RDS reserves that name';
    return undefined;
  },
  databaseNameProblem: (database) => {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/.test(database))
      return '1 to 63 letters, digits or underscores, starting with a letter or an underscore';
    if (RESERVED_DATABASES.has(database.toLowerCase()))
      return 'the server already has a database of that name';
    return undefined;
  },
};
