import type { CommandSpec } from '../command.ts';
import { flag, int, str } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { record } from '../output.ts';
import {
  DEFAULT_STACK_NAME,
  findBastion,
  freeLocalPort,
  localConnectionUri,
  missingTools,
  missingToolsMessage,
  runSession,
  tunnelNotes,
} from '../tunnel.ts';

export const tunnelCommands: CommandSpec[] = [
  {
    words: ['tunnel'],
    args: '<addon>',
    summary:
      "Forward a local port to a private AWS addon through the deployment's Session Manager bastion (-c bastion=true)",
    options: {
      'local-port': { type: 'string', help: '<port> the local port (default: a free one)' },
      stack: {
        type: 'string',
        help: `<name> the deployment's stack (or ADDONS_STACK; default ${DEFAULT_STACK_NAME})`,
      },
      region: { type: 'string', help: "<region> the stack's Region (default: the AWS CLI's)" },
      'show-password': { type: 'boolean', help: 'put the password in the printed URI' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const requestedPort = int(values, 'local-port', 1, 65_535);
      const missing = missingTools();
      if (missing.length > 0) throw new CliError(missingToolsMessage(missing), EXIT.local);
      const addonId = await context.resolveAddon(ref);
      const credentials = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
        params: { path: { projectId: context.project(), addonId } },
      });
      const stackName = str(values, 'stack') ?? process.env.ADDONS_STACK ?? DEFAULT_STACK_NAME;
      const region = str(values, 'region');
      const instanceId = findBastion(stackName, region);
      const localPort = await freeLocalPort(requestedPort);
      const showPassword = flag(values, 'show-password');
      const uri = localConnectionUri(credentials, localPort, showPassword);
      context.out.result(
        { addonId, instanceId, host: credentials.host, port: credentials.port, localPort, uri },
        () =>
          record({
            'local port': localPort,
            uri,
            forwards: `127.0.0.1:${localPort} -> ${credentials.host}:${credentials.port} through ${instanceId}`,
          }),
      );
      for (const note of tunnelNotes(credentials, showPassword)) context.out.info(note);
      context.out.info('Forwarding until Ctrl-C.');
      return runSession({
        instanceId,
        host: credentials.host,
        port: credentials.port,
        localPort,
        ...(region ? { region } : {}),
      });
    },
  },
];
