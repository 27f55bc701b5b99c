import type { Construct } from 'constructs';
import { mysqlRdsProfile } from '#shared/providers/aws/mysql/index.ts';
import { RdsEngine, type RdsEngineProps } from './rds-engine.ts';

/**
 * RDS for MySQL addons: parameter groups of family `mysql<major>` (`mysql8.0`, `mysql8.4`) with
 * `require_secure_transport` ON (TLS required: the server refuses plain connections with error
 * 3159) or OFF (an addon created with `tls: false`; the server still offers TLS). RDS for MySQL
 * DB instance parameter groups take the boolean as `1`/`0` (only Aurora's cluster parameter
 * groups take `ON`/`OFF`), so that is what is written. Everything else is the shared RDS engine
 * construct.
 */
export class MysqlAddons extends RdsEngine {
  constructor(scope: Construct, id: string, props: RdsEngineProps) {
    super(scope, id, {
      ...props,
      profile: mysqlRdsProfile,
      family: (major) => `mysql${major}`,
      tls: { name: 'require_secure_transport', on: '1', off: '0' },
      // Its client tools read no such variables: the dump tool turns these into options
      // (shared/jobs/mysql/connection.ts).
      jobEnvironment: (caBundle) => ({
        ADDONS_MYSQL_SSL_MODE: 'verify-identity',
        ADDONS_MYSQL_SSL_CA: caBundle,
      }),
    });
  }
}
