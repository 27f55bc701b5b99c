import type { Construct } from 'constructs';
import { postgresqlRdsProfile } from '#shared/providers/aws/postgresql/index.ts';
import { RdsEngine, type RdsEngineProps } from './rds-engine.ts';

/**
 * RDS for PostgreSQL addons: parameter groups of family `postgres<major>` with `rds.force_ssl`
 * 1 (TLS required) or 0 (an addon created with `tls: false`; the RDS default group forces TLS
 * from PostgreSQL 15 on). Everything else is the shared RDS engine construct.
 */
export class PostgresqlAddons extends RdsEngine {
  constructor(scope: Construct, id: string, props: RdsEngineProps) {
    super(scope, id, {
      ...props,
      profile: postgresqlRdsProfile,
      family: (major) => `postgres${major}`,
      tls: { name: 'rds.force_ssl', on: '1', off: '0' },
      // libpq's own variables: every connection of the job verifies the server's certificate.
      jobEnvironment: (caBundle) => ({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: caBundle }),
    });
  }
}
