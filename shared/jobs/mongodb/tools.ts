import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DATABASE_TOOLS,
  DATABASE_TOOLS_INSTALL,
  MONGODB_BIN_DIR_VARIABLE,
} from '../../engines/mongodb/local-offer.ts';
import { MissingToolError } from '../../errors.ts';
import type { ToolCommand } from '../dump-tool.ts';
import { type Tool, toolVersion } from '../processes.ts';

export type MongoToolName = 'mongodump' | 'mongorestore';

export interface MongoTool extends Tool {
  /** First line of `--version`, e.g. `mongodump version: 100.10.0`. */
  version: string;
}

/**
 * The environment variable that carries the tools' `--config` YAML (the URI with the password):
 * mongodump and mongorestore take credentials only as arguments or in a config file, and
 * arguments are visible to every user of the machine (ps, /proc/<pid>/cmdline).
 */
export const CONFIG_VARIABLE = 'ADDONS_MONGODB_TOOL_CONFIG';

/**
 * Runs the tool through bash, which hands it the config on a pipe (`--config=/dev/fd/N`, a bash
 * process substitution) from the environment variable: the URI and its password are never in
 * an argument and never written to a file. `exec` makes the tool the process the pipeline
 * watches and kills (its pid is bash's).
 */
export const CONFIG_WRAPPER = `exec "$0" --config=<(printf '%s' "$${CONFIG_VARIABLE}") "$@"`;

const BASH: Tool = { name: 'bash', path: 'bash', install: 'apt-get install bash' };

/** `--config` YAML: the keys mongo-tools reads from it (`uri`, `password`); a JSON string is a YAML scalar. */
export const toolConfig = (uri: string): string => `uri: ${JSON.stringify(uri)}\n`;

/**
 * The command that runs `tool` with `args`, connected by `uri` through the config pipe. `name`
 * stays the tool's in messages; what is spawned is bash.
 */
export const configuredCommand = (tool: MongoTool, args: string[], uri: string): ToolCommand => ({
  tool: { name: tool.name, path: BASH.path, install: tool.install },
  args: ['-c', CONFIG_WRAPPER, tool.path, ...args],
  env: {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LC_ALL: 'C',
    [CONFIG_VARIABLE]: toolConfig(uri),
  },
});

const isExecutable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * mongodump or mongorestore: from `ADDONS_MONGODB_BIN_DIR` when it has it, else from PATH.
 * MongoDB's Database Tools are versioned apart from the server (100.x) and serve every server
 * from 4.2 on, DocumentDB included: no version floor to check.
 */
export const resolveMongoTool = async (
  name: MongoToolName,
  binDir = process.env[MONGODB_BIN_DIR_VARIABLE],
): Promise<MongoTool> => {
  const inDir = binDir ? join(binDir, name) : undefined;
  const tool: Tool = {
    name,
    path: inDir && (await isExecutable(inDir)) ? inDir : name,
    install: DATABASE_TOOLS_INSTALL,
  };
  try {
    return { ...tool, version: await toolVersion(tool) };
  } catch (error) {
    if (error instanceof MissingToolError) throw new MissingToolError(DATABASE_TOOLS, DATABASE_TOOLS_INSTALL);
    throw error;
  }
};
