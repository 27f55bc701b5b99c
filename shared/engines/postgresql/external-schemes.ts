import type { ExternalSchemeSpec } from '../external-scheme.ts';

/** The URI schemes an external service of this engine is registered with (secret groups). */
export const externalSchemes: Record<string, ExternalSchemeSpec> = {
  postgres: {
    engine: 'postgresql',
    defaultPort: 5432,
    requires: { username: true, password: true, database: true },
    defaults: { username: '', database: '' },
    tls: false,
  },
  postgresql: {
    engine: 'postgresql',
    defaultPort: 5432,
    requires: { username: true, password: true, database: true },
    defaults: { username: '', database: '' },
    tls: false,
  },
};
