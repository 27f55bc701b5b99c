import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The file the local target writes in its data directory when it starts, for the `addons` CLI
 * (cli/config.ts reads it): the API URL and the bearer token, readable by this user only.
 * Removed when the platform stops, so a CLI never talks to a URL nothing listens on.
 */
export const CLI_CONFIG_FILE = 'cli.json';

export interface CliConfigFile {
  apiUrl: string;
  token: string;
  /** Default project for CLI commands, when the file has one (the local target writes none). */
  project?: string;
}

export const writeCliConfig = async (dataDir: string, config: CliConfigFile): Promise<string> => {
  const path = join(dataDir, CLI_CONFIG_FILE);
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
};

export const removeCliConfig = (dataDir: string) => rm(join(dataDir, CLI_CONFIG_FILE), { force: true });
