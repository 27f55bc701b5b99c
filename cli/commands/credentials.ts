import type { Addon, Credentials, Operation } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { connect } from '../connect/index.ts';
import { flag, int, str } from '../context.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { record } from '../output.ts';
import { follow } from '../wait.ts';

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
    words: ['credentials', 'rotate'],
    args: '<addon>',
    summary:
      'Publish new credentials, the previous ones working until --finish or the deadline (--retire-after, default 24 h)',
    options: {
      finish: { type: 'boolean', help: 'retire the previous credentials of the open rotation now' },
      'retire-after': { type: 'string', help: '<seconds> how long the previous credentials keep working' },
      'show-password': { type: 'boolean', help: 'print the new password and the URI' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      const path = { projectId: context.project(), addonId };
      const finish = flag(values, 'finish');
      const retireAfterSeconds = int(values, 'retire-after', 1, 30 * 86_400);
      if (finish && retireAfterSeconds !== undefined)
        throw usageError('--retire-after applies to a new rotation only');
      const result = finish
        ? await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/credentials/rotate/finish', {
            params: { path },
          })
        : await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/credentials/rotate', {
            params: { path },
            body: retireAfterSeconds === undefined ? {} : { retireAfterSeconds },
          });
      // Begun (202, Redis on AWS): follow the operation, then read what it published.
      let exitCode: number = EXIT.ok;
      let ended: typeof result | { addon: Addon; operation: Operation; credentials: Credentials } = result;
      if (!('credentials' in result)) {
        const followed = await follow(context, result.operation);
        exitCode = followed.exitCode;
        if (followed.operation.status !== 'completed') {
          context.out.result({ ...result, operation: followed.operation }, () =>
            record({ operation: followed.operation.id, status: followed.operation.status }),
          );
          return exitCode;
        }
        const [addon, credentials] = await Promise.all([
          context.api.GET('/v1/projects/{projectId}/addons/{addonId}', { params: { path } }),
          context.api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', { params: { path } }),
        ]);
        ended = { addon, operation: followed.operation, credentials };
      }
      if (!('credentials' in ended)) return exitCode;
      const show = flag(values, 'show-password');
      const { credentials } = ended;
      const rotation = ended.addon.credentialRotation;
      context.out.result(ended, () =>
        record({
          username: credentials.username,
          password: show ? credentials.password : '(hidden: --show-password)',
          uri: show ? credentials.uri : '(hidden: --show-password)',
          previous: rotation
            ? `user '${rotation.previousUsername}' works until ${rotation.deadline}`
            : 'retired',
          operation: ended.operation.id,
        }),
      );
      return exitCode;
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
