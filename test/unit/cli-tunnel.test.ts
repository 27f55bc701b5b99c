import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../cli/exit-codes.ts';
import {
  BASTION_OUTPUT,
  bastionLookupArgs,
  findBastion,
  freeLocalPort,
  localConnectionUri,
  missingTools,
  missingToolsMessage,
  noBastionMessage,
  runSession,
  startSessionArgs,
  tunnelNotes,
} from '../../cli/tunnel.ts';

/** A directory on PATH with fake `aws` / `session-manager-plugin` scripts: what the tunnel runs, without AWS. */
let bin: string;
const originalPath = process.env.PATH;
const fakeTool = (name: string, script: string) => {
  const file = join(bin, name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
};

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), 'addons-tunnel-'));
});
afterEach(() => {
  process.env.PATH = originalPath;
  rmSync(join(bin, 'aws'), { force: true });
  rmSync(join(bin, 'session-manager-plugin'), { force: true });
});
afterAll(() => rmSync(bin, { recursive: true, force: true }));

describe('addons tunnel: the AWS CLI calls', () => {
  it('starts a port-forwarding session to the addon host through the bastion, with exactly these arguments', () => {
    expect(
      startSessionArgs({
        instanceId: 'i-0123456789abcdef0',
        host: 'adn-x.abc.eu-west-1.rds.amazonaws.com',
        port: 5432,
        localPort: 15432,
      }),
    ).toEqual([
      'ssm',
      'start-session',
      '--target',
      'i-0123456789abcdef0',
      '--document-name',
      'AWS-StartPortForwardingSessionToRemoteHost',
      '--parameters',
      'host=adn-x.abc.eu-west-1.rds.amazonaws.com,portNumber=5432,localPortNumber=15432',
    ]);
    expect(
      startSessionArgs({ instanceId: 'i-1', host: 'h', port: 6379, localPort: 1, region: 'eu-west-1' }).slice(
        -2,
      ),
    ).toEqual(['--region', 'eu-west-1']);
  });

  it("looks the bastion up in the stack's outputs", () => {
    expect(bastionLookupArgs('Addons')).toEqual([
      'cloudformation',
      'describe-stacks',
      '--stack-name',
      'Addons',
      '--query',
      `Stacks[0].Outputs[?OutputKey=='${BASTION_OUTPUT}'].OutputValue`,
      '--output',
      'text',
    ]);
  });

  it('runs the AWS CLI with those arguments and returns its exit status', async () => {
    const log = join(bin, 'args.txt');
    fakeTool('aws', `printf '%s\\n' "$@" > '${log}'; exit 3`);
    process.env.PATH = `${bin}:${originalPath}`;
    const target = { instanceId: 'i-1', host: 'db.internal', port: 3306, localPort: 13306 };
    expect(await runSession(target)).toBe(3);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(startSessionArgs(target));
  });

  it('reads the instance id, and says how to enable the bastion when the stack has none', () => {
    process.env.PATH = `${bin}:${originalPath}`;
    fakeTool('aws', 'echo i-0abc');
    expect(findBastion('Addons')).toBe('i-0abc');
    fakeTool('aws', 'echo None');
    expect(() => findBastion('AddonsStaging')).toThrow(noBastionMessage('AddonsStaging'));
    expect(noBastionMessage('AddonsStaging')).toContain('npx cdk deploy -c bastion=true');
    expect(noBastionMessage('AddonsStaging')).toContain('-c stackName=AddonsStaging');
    fakeTool('aws', 'echo "Stack with id Nope does not exist" >&2; exit 254');
    expect(() => findBastion('Nope')).toThrow(/Cannot read the outputs of stack Nope: Stack with id Nope/);
  });
});

describe('addons tunnel: missing tools', () => {
  it('names the Session Manager plugin, and where to get it, when only the AWS CLI is installed', () => {
    fakeTool('aws', 'exit 0');
    process.env.PATH = bin;
    expect(missingTools()).toEqual(['session-manager-plugin']);
    const message = missingToolsMessage(['session-manager-plugin']);
    expect(message).toContain('needs session-manager-plugin on PATH');
    expect(message).toContain(
      'Session Manager plugin for the AWS CLI: https://docs.aws.amazon.com/systems-manager/',
    );
    expect(message).not.toContain('AWS CLI v2');
  });

  it('names both when neither is installed, and none when both are', () => {
    process.env.PATH = bin;
    expect(missingTools()).toEqual(['aws', 'session-manager-plugin']);
    expect(missingToolsMessage(['aws', 'session-manager-plugin'])).toMatch(
      /AWS CLI v2: https:.*\n.*Session Manager plugin/,
    );
    fakeTool('aws', 'exit 0');
    fakeTool('session-manager-plugin', 'exit 0');
    expect(missingTools()).toEqual([]);
  });
});

describe('addons tunnel: the printed connection string', () => {
  const cases = [
    {
      engine: 'postgresql',
      uri: 'postgresql://app:s3cr%2Ft@adn-a.x.eu-west-1.rds.amazonaws.com:5432/app?sslmode=require',
      local: 'postgresql://app:<password>@127.0.0.1:15432/app?sslmode=require',
      shown: 'postgresql://app:s3cr%2Ft@127.0.0.1:15432/app?sslmode=require',
    },
    {
      engine: 'mysql',
      uri: 'mysql://app:pw@adn-b.x.eu-west-1.rds.amazonaws.com:3306/app',
      local: 'mysql://app:<password>@127.0.0.1:15432/app',
      shown: 'mysql://app:pw@127.0.0.1:15432/app',
    },
    {
      engine: 'redis',
      uri: 'rediss://adn-c:pw@master.adn-c.x.euw1.cache.amazonaws.com:6379/0',
      local: 'rediss://adn-c:<password>@127.0.0.1:15432/0',
      shown: 'rediss://adn-c:pw@127.0.0.1:15432/0',
    },
    {
      engine: 'mongodb',
      uri: 'mongodb://app:pw@adn-d.cluster-x.eu-west-1.docdb.amazonaws.com:27017/app?tls=true&replicaSet=rs0&retryWrites=false&authSource=admin',
      local:
        'mongodb://app:<password>@127.0.0.1:15432/app?tls=true&retryWrites=false&authSource=admin&directConnection=true',
      shown:
        'mongodb://app:pw@127.0.0.1:15432/app?tls=true&retryWrites=false&authSource=admin&directConnection=true',
    },
  ];
  for (const { engine, uri, local, shown } of cases) {
    it(`${engine}: the engine's scheme at 127.0.0.1:<port>, the password hidden unless asked`, () => {
      expect(localConnectionUri({ uri, tls: true }, 15432)).toBe(local);
      expect(localConnectionUri({ uri, tls: true }, 15432, true)).toBe(shown);
    });
  }

  it('tells where the password is when it is hidden, and what TLS host checks do through the tunnel', () => {
    expect(tunnelNotes({ tls: true }, false).join('\n')).toMatch(
      /--show-password.*\n.*certificate names its AWS host/,
    );
    expect(tunnelNotes({ tls: false }, true)).toEqual([]);
  });
});

describe('addons tunnel: the local port', () => {
  let busy: Server;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it('picks a free one when none is given, keeps a free one given, refuses one in use', async () => {
    const picked = await freeLocalPort();
    expect(picked).toBeGreaterThan(0);
    expect(await freeLocalPort(picked)).toBe(picked);
    const inUse = (busy.address() as { port: number }).port;
    const refusal = await freeLocalPort(inUse).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CliError);
    expect((refusal as CliError).exitCode).toBe(EXIT.usage);
    expect((refusal as CliError).message).toBe(`--local-port ${inUse} is in use; pick another`);
  });
});

describe('addons tunnel, as a user runs it', () => {
  it('reads the addon from the API and the bastion from the stack, prints the port and URI, then runs the session', async () => {
    const credentials = {
      engine: 'postgresql',
      host: 'adn-abc.x.eu-west-1.rds.amazonaws.com',
      port: 5432,
      database: 'orders_db',
      username: 'app',
      password: 'pw-secret-1',
      uri: 'postgresql://app:pw-secret-1@adn-abc.x.eu-west-1.rds.amazonaws.com:5432/orders_db?sslmode=require',
      tls: true,
    };
    const requests: Array<{ url?: string; auth?: string }> = [];
    const api = createHttpServer((request, response) => {
      requests.push({ url: request.url, auth: request.headers.authorization });
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(credentials));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const log = join(bin, 'session.txt');
    const lookup = join(bin, 'lookup.txt');
    fakeTool(
      'aws',
      `if [ "$1" = cloudformation ]; then printf '%s\\n' "$@" > '${lookup}'; echo i-0bastion; exit 0; fi\nprintf '%s\\n' "$@" > '${log}'`,
    );
    fakeTool('session-manager-plugin', 'exit 0');
    try {
      const child = spawn(
        process.execPath,
        [
          fileURLToPath(new URL('../../cli/bin.js', import.meta.url)),
          'tunnel',
          'adn-abc',
          '--stack',
          'AddonsStaging',
        ],
        {
          env: {
            ...process.env,
            PATH: `${bin}:${originalPath}`,
            ADDONS_API_URL: `http://127.0.0.1:${(api.address() as { port: number }).port}`,
            ADDONS_TOKEN: 'token-1',
            ADDONS_PROJECT: 'p1',
            ADDONS_CONFIG: join(bin, 'none.json'),
          },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).toBe(0);
      expect(requests).toEqual([
        { url: '/v1/projects/p1/addons/adn-abc/credentials', auth: 'Bearer token-1' },
      ]);
      const localPort = Number(stdout.match(/local port:\s+(\d+)/)?.[1]);
      expect(localPort).toBeGreaterThan(0);
      expect(stdout).toContain(
        `postgresql://app:<password>@127.0.0.1:${localPort}/orders_db?sslmode=require`,
      );
      expect(stdout + stderr).not.toContain('pw-secret-1');
      expect(readFileSync(lookup, 'utf8').trim().split('\n')).toEqual(bastionLookupArgs('AddonsStaging'));
      expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(
        startSessionArgs({ instanceId: 'i-0bastion', host: credentials.host, port: 5432, localPort }),
      );
    } finally {
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });
});
