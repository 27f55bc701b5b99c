import type { ClientTool } from './index.ts';

/** psql, the password in PGPASSWORD; `-c` runs one statement. */
export const postgresqlTool: ClientTool = {
  commands: ['psql'],
  invocation: (credentials, command, caFile) => ({
    args: command === undefined ? [] : ['-c', command],
    env: {
      PGHOST: credentials.host,
      PGPORT: String(credentials.port),
      PGDATABASE: credentials.database,
      PGUSER: credentials.username,
      PGPASSWORD: credentials.password,
      ...(credentials.tls
        ? caFile
          ? { PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile }
          : { PGSSLMODE: 'require' }
        : {}),
    },
  }),
};
