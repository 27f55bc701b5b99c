/** The connection strings a PostgreSQL live import takes: libpq's URI schemes and default port. */
export const POSTGRESQL_LIVE_SOURCE = { schemes: ['postgresql', 'postgres'], defaultPort: 5432 } as const;
