import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Credentials } from '../../client/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { mysqlTool } from './mysql.ts';
import { postgresqlTool } from './postgresql.ts';
import { redisTool } from './redis.ts';

/**
 * An engine's command-line client: which programs to try, in order, and how to hand them the
 * connection details. The password always travels in the environment, never in argv (which
 * every user of the machine can read) nor on the screen.
 */
export interface ClientTool {
  commands: string[];
  /** `caFile`: the platform's CA (the connection details' `caCertificate`) to verify the server with. */
  invocation(
    credentials: Credentials,
    command: string | undefined,
    caFile?: string,
  ): { args: string[]; env: Record<string, string> };
}

/** The engines `connect` knows; MongoDB's shell takes the password only on its command line. */
const TOOLS: Partial<Record<Credentials['engine'], ClientTool>> = {
  postgresql: postgresqlTool,
  mysql: mysqlTool,
  redis: redisTool,
};

const run = (command: string, args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<number | 'missing'>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    child.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ENOENT' ? resolve('missing') : reject(error),
    );
    // Ctrl-C goes to the client tool (same process group); the CLI waits for it to end.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 : EXIT.local));
    });
  });

/** Runs the engine's client connected to the addon, stdin/stdout attached; its exit status. */
export const connect = async (credentials: Credentials, command: string | undefined, extra: string[]) => {
  const tool = TOOLS[credentials.engine];
  if (!tool) {
    throw new CliError(
      `connect does not support ${credentials.engine}: its shell would need the password on the command line; use \`addons credentials\``,
      EXIT.local,
    );
  }
  // Where the platform runs its own CA (the local target), the client verifies the server with it.
  const caDir = credentials.caCertificate ? mkdtempSync(path.join(os.tmpdir(), 'addons-ca-')) : undefined;
  const caFile = caDir ? path.join(caDir, 'ca.pem') : undefined;
  if (caFile) writeFileSync(caFile, credentials.caCertificate as string, { mode: 0o600 });
  try {
    const { args, env } = tool.invocation(credentials, command, caFile);
    for (const program of tool.commands) {
      const status = await run(program, [...args, ...extra], { ...process.env, ...env });
      if (status !== 'missing') return status;
    }
  } finally {
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  }
  throw new CliError(`${tool.commands.join(' or ')} is not installed (not found on PATH)`, EXIT.local);
};
