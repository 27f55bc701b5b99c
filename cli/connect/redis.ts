import type { ClientTool } from './index.ts';

/** redis-cli, the password in REDISCLI_AUTH; `-c 'SET k v'` runs one command (split on spaces). */
export const redisTool: ClientTool = {
  commands: ['redis-cli'],
  invocation: (credentials, command, caFile) => ({
    args: [
      '-h',
      credentials.host,
      '-p',
      String(credentials.port),
      ...(credentials.username && credentials.username !== 'default' ? ['--user', credentials.username] : []),
      ...(/^\d+$/.test(credentials.database) ? ['-n', credentials.database] : []),
      ...(credentials.tls ? ['--tls', ...(caFile ? ['--cacert', caFile] : [])] : []),
      ...(command === undefined ? [] : command.split(/\s+/).filter(Boolean)),
    ],
    env: { REDISCLI_AUTH: credentials.password },
  }),
};
