import type { ExternalSchemeSpec } from '../external-scheme.ts';

/** The URI schemes an external service of this engine is registered with (secret groups). */
export const externalSchemes: Record<string, ExternalSchemeSpec> = {
  mongodb: {
    engine: 'mongodb',
    defaultPort: 27017,
    requires: { username: true, password: true, database: false },
    defaults: { username: '', database: 'admin' },
    tls: false,
  },
  'mongodb+srv': {
    engine: 'mongodb',
    defaultPort: 27017,
    requires: { username: true, password: true, database: false },
    defaults: { username: '', database: 'admin' },
    tls: true,
  },
};
