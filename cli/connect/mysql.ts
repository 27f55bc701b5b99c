import type { ClientTool } from './index.ts';

/** The mariadb client (or mysql where only it is installed), the password in MYSQL_PWD. */
export const mysqlTool: ClientTool = {
  commands: ['mariadb', 'mysql'],
  invocation: (credentials, command, caFile) => ({
    args: [
      `--host=${credentials.host}`,
      `--port=${credentials.port}`,
      `--user=${credentials.username}`,
      `--database=${credentials.database}`,
      ...(credentials.tls
        ? ['--ssl', ...(caFile ? [`--ssl-ca=${caFile}`, '--ssl-verify-server-cert'] : [])]
        : []),
      ...(command === undefined ? [] : ['-e', command]),
    ],
    env: { MYSQL_PWD: credentials.password },
  }),
};
