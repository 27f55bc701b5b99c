import type { ExternalSchemeSpec } from '../external-scheme.ts';

/** The URI schemes an external service of this engine is registered with (secret groups). */
export const externalSchemes: Record<string, ExternalSchemeSpec> = {
  mysql: {
    engine: 'mysql',
    defaultPort: 3306,
    requires: { username: true, password: true, database: true },
    defaults: { username: '', database: '' },
    tls: false,
  },
  mariadb: {
    engine: 'mysql',
    defaultPort: 3306,
    requires: { username: true, password: true, database: true },
    defaults: { username: '', database: '' },
    tls: false,
  },
};
