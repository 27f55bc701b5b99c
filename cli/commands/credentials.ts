import type { CommandSpec } from '../command.ts';
import { connect } from '../connect/index.ts';
import { flag, str } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { record } from '../output.ts';

export const credentialCommands: CommandSpec[] = [
  {
    words: ['credentials'],
    args: '<addon>',
    summary: 'Connection details (the password only with --show-password or --json)',
    options: { 'show-password': { type: 'boolean', help: 'print the password and the URI' } },
    async run(context, { positionals: [ref = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      const credentials = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
        params: { path: { projectId: context.project(), addonId } },
      });
      const show = flag(values, 'show-password');
      context.out.result(credentials, () =>
        record({
          engine: credentials.engine,
          host: credentials.host,
          port: credentials.port,
          database: credentials.database,
          username: credentials.username,
          password: show ? credentials.password : '(hidden: --show-password)',
          uri: show ? credentials.uri : '(hidden: --show-password)',
          tls: credentials.tls,
        }),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['connect'],
    args: '<addon>',
    summary: "Open the engine's shell (psql, mariadb, redis-cli) on the addon; extra arguments after --",
    options: {
      command: { type: 'string', short: 'c', help: '<text> run this statement or command and exit' },
    },
    async run(context, { positionals: [ref = ''], values, rest }) {
      const addonId = await context.resolveAddon(ref);
      const credentials = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
        params: { path: { projectId: context.project(), addonId } },
      });
      return connect(credentials, str(values, 'command'), rest);
    },
  },
];
