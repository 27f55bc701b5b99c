import type { ExternalSchemeSpec } from '../external-scheme.ts';

/** The URI schemes an external service of this engine is registered with (secret groups). */
export const externalSchemes: Record<string, ExternalSchemeSpec> = {
  redis: {
    engine: 'redis',
    defaultPort: 6379,
    requires: { username: false, password: false, database: false },
    defaults: { username: 'default', database: '0' },
    tls: false,
  },
  rediss: {
    engine: 'redis',
    defaultPort: 6379,
    requires: { username: false, password: false, database: false },
    defaults: { username: 'default', database: '0' },
    tls: true,
  },
};
