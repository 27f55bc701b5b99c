import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Credentials } from '../client/index.ts';
import { CliError, EXIT, usageError } from './exit-codes.ts';

/**
 * `addons tunnel`: a local port forwarded to a private AWS addon through the deployment's Session
 * Manager bastion (`-c bastion=true`, docs/networking.md "Reaching a private AWS addon from your
 * machine"). The pure parts (arguments, messages, the local URI) are exported for the tests; the
 * AWS CLI and its Session Manager plugin do the forwarding.
 */

/** The stack output naming the bastion's instance (infra/aws/addons-stack.ts writes it). */
export const BASTION_OUTPUT = 'BastionInstanceId';
/** The SSM document that forwards a local port to a host and port the instance can reach. */
export const PORT_FORWARDING_DOCUMENT = 'AWS-StartPortForwardingSessionToRemoteHost';
export const DEFAULT_STACK_NAME = 'Addons';

export interface TunnelTarget {
  instanceId: string;
  /** The addon's private endpoint, as its connection details name it. */
  host: string;
  port: number;
  localPort: number;
  /** `--region`; unset: the AWS CLI's own configuration. */
  region?: string;
}

const regionArgs = (region: string | undefined) => (region ? ['--region', region] : []);

/** `aws ssm start-session ...`: forwards 127.0.0.1:<localPort> to host:port through the instance. */
export const startSessionArgs = (target: TunnelTarget): string[] => [
  'ssm',
  'start-session',
  '--target',
  target.instanceId,
  '--document-name',
  PORT_FORWARDING_DOCUMENT,
  '--parameters',
  `host=${target.host},portNumber=${target.port},localPortNumber=${target.localPort}`,
  ...regionArgs(target.region),
];

/** `aws cloudformation describe-stacks ...`: the bastion's instance id, or `None` when the stack has none. */
export const bastionLookupArgs = (stackName: string, region?: string): string[] => [
  'cloudformation',
  'describe-stacks',
  '--stack-name',
  stackName,
  '--query',
  `Stacks[0].Outputs[?OutputKey=='${BASTION_OUTPUT}'].OutputValue`,
  '--output',
  'text',
  ...regionArgs(region),
];

/** What a stack without the bastion gets told. */
export const noBastionMessage = (stackName: string): string =>
  `The stack ${stackName} has no Session Manager bastion (output ${BASTION_OUTPUT}). Deploy it with ` +
  `\`npx cdk deploy -c bastion=true\` (add \`-c stackName=${stackName}\` for a stack not named ` +
  `${DEFAULT_STACK_NAME}; about $28 a month, docs/networking.md), or pass --stack for another deployment.`;

/** The programs the tunnel runs, and where to get each. */
export const TUNNEL_TOOLS = {
  aws: 'the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html',
  'session-manager-plugin':
    'the Session Manager plugin for the AWS CLI: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html',
} as const;
export type TunnelTool = keyof typeof TUNNEL_TOOLS;

export const missingToolsMessage = (missing: readonly TunnelTool[]): string =>
  [
    `addons tunnel needs ${missing.join(' and ')} on PATH. Install:`,
    ...missing.map((tool) => `  - ${TUNNEL_TOOLS[tool]}`),
  ].join('\n');

const PASSWORD_MARK = 'PASSWORD_PLACEHOLDER';

/**
 * The addon's URI pointed at the forwarded port: same scheme, user, database and parameters,
 * the host `127.0.0.1:<localPort>`, the password `<password>` unless `showPassword`. A URI naming
 * a replica set asks for a direct connection instead: through one forwarded port the client
 * must not go looking for the other members at their private addresses.
 */
export const localConnectionUri = (
  credentials: Pick<Credentials, 'uri' | 'tls'>,
  localPort: number,
  showPassword = false,
): string => {
  const url = new URL(credentials.uri);
  url.hostname = '127.0.0.1';
  url.port = String(localPort);
  if (url.searchParams.has('replicaSet')) {
    url.searchParams.delete('replicaSet');
    url.searchParams.set('directConnection', 'true');
  }
  if (!showPassword && url.password) url.password = PASSWORD_MARK;
  return url.href.replace(`:${PASSWORD_MARK}@`, ':<password>@');
};

/** Said beside the URI: what changes for TLS through a forwarded port, and where the password is. */
export const tunnelNotes = (credentials: Pick<Credentials, 'tls'>, showPassword: boolean): string[] => [
  ...(showPassword
    ? []
    : [
        'The password: `addons credentials <addon> --show-password`, or GET .../addons/{addonId}/credentials.',
      ]),
  ...(credentials.tls
    ? [
        "TLS: the server's certificate names its AWS host, not 127.0.0.1: a client that checks the host name (verify-full, verify_identity, hostname checks) needs that check off for this connection; the traffic stays encrypted.",
      ]
    : []),
];

export interface TunnelOptions {
  localPort?: number;
  stackName: string;
  region?: string;
}

/** Which of the tools are missing from PATH. */
export const missingTools = (): TunnelTool[] =>
  (Object.keys(TUNNEL_TOOLS) as TunnelTool[]).filter((tool) => {
    const probe = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    return (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  });

/** The bastion's instance id from the stack's outputs (the AWS CLI, with the user's AWS credentials). */
export const findBastion = (stackName: string, region?: string): string => {
  const result = spawnSync('aws', bastionLookupArgs(stackName, region), { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new CliError(
      `Cannot read the outputs of stack ${stackName}: ${(result.stderr || String(result.error ?? '')).trim()}`,
      EXIT.local,
    );
  }
  const instanceId = result.stdout.trim();
  if (!instanceId || instanceId === 'None') throw new CliError(noBastionMessage(stackName), EXIT.local);
  return instanceId;
};

/** `port` if it is free on 127.0.0.1, else (port 0) one the system picks. */
export const freeLocalPort = (port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? usageError(`--local-port ${port} is in use; pick another`) : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });

/** Runs the port-forwarding session in the foreground until Ctrl-C; the AWS CLI's exit status. */
export const runSession = (target: TunnelTarget): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn('aws', startSessionArgs(target), { stdio: 'inherit' });
    child.once('error', reject);
    // Ctrl-C goes to the AWS CLI (same process group), which ends the session; then we exit.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 : EXIT.local));
    });
  });
