import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI_CONFIG_FILE, type CliConfigFile } from '#infra/local/cli-config.ts';
import { CliError, EXIT } from './exit-codes.ts';

/**
 * Where the CLI finds the API, the token and the default project, first found wins per setting:
 * 1. command-line flags (`--api-url`, `--project`; no token flag: argv is visible to every user);
 * 2. the environment: ADDONS_API_URL, ADDONS_TOKEN, ADDONS_PROJECT;
 * 3. a config file: ADDONS_CONFIG if set, else the one the local target writes when it starts
 *    (`<data dir>/cli.json`, the data dir being ADDONS_DATA_DIR or `.addons`, as for `npm start`),
 *    else `$XDG_CONFIG_HOME/addons/config.json` (`~/.config/addons/config.json`), which a user
 *    writes for a remote deployment.
 */
export interface CliSettings {
  apiUrl: string;
  token: string | undefined;
  project: string | undefined;
  /** The config file the settings came from, if any. */
  configPath: string | undefined;
}

export const configCandidates = (env: NodeJS.ProcessEnv): string[] => {
  if (env.ADDONS_CONFIG) return [resolve(env.ADDONS_CONFIG)];
  const configHome = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return [
    resolve(env.ADDONS_DATA_DIR || '.addons', CLI_CONFIG_FILE),
    join(configHome, 'addons', 'config.json'),
  ];
};

const readConfigFile = (path: string): Partial<CliConfigFile> => {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not a JSON object');
    const { apiUrl, token, project } = parsed as Record<string, unknown>;
    return {
      ...(typeof apiUrl === 'string' ? { apiUrl } : {}),
      ...(typeof token === 'string' ? { token } : {}),
      ...(typeof project === 'string' ? { project } : {}),
    };
  } catch (error) {
    throw new CliError(`Cannot read the config file ${path}: ${(error as Error).message}`, EXIT.local);
  }
};

export const loadSettings = (
  flags: { apiUrl?: string; project?: string },
  env: NodeJS.ProcessEnv = process.env,
): CliSettings => {
  const configPath = configCandidates(env).find((path) => existsSync(path));
  const file = configPath ? readConfigFile(configPath) : {};
  const apiUrl = flags.apiUrl ?? env.ADDONS_API_URL ?? file.apiUrl;
  if (!apiUrl) {
    throw new CliError(
      'No API URL: set ADDONS_API_URL, pass --api-url, or start the local target (npm start), which writes .addons/cli.json',
      EXIT.usage,
    );
  }
  return {
    apiUrl,
    token: env.ADDONS_TOKEN ?? file.token,
    project: flags.project ?? env.ADDONS_PROJECT ?? file.project,
    configPath,
  };
};
