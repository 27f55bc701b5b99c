import { parseArgs } from 'node:util';
import { arity, type CommandSpec, type OptionSpec } from './command.ts';
import { addonCommands } from './commands/addons.ts';
import { alertRuleCommands } from './commands/alert-rules.ts';
import { backupCommands } from './commands/backups.ts';
import { credentialCommands } from './commands/credentials.ts';
import { importCommands } from './commands/imports.ts';
import { observeCommands } from './commands/observe.ts';
import { operationCommands } from './commands/operations.ts';
import { scheduleCommands } from './commands/schedules.ts';
import { secretGroupCommands } from './commands/secret-groups.ts';
import { tunnelCommands } from './commands/tunnel.ts';
import { createContext, type Values } from './context.ts';
import { EXIT, usageError } from './exit-codes.ts';
import { reportError } from './output.ts';

/**
 * `addons`: the command-line client of the addons API, built on the typed client (client/).
 * README "CLI" has the quick reference, the configuration and the exit statuses (exit-codes.ts).
 */
const COMMANDS: CommandSpec[] = [
  ...addonCommands,
  ...credentialCommands,
  ...backupCommands,
  ...scheduleCommands,
  ...operationCommands,
  ...importCommands,
  ...observeCommands,
  ...secretGroupCommands,
  ...alertRuleCommands,
  ...tunnelCommands,
];

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  project: { type: 'string', short: 'p', help: '<id> the project (or ADDONS_PROJECT)' },
  json: { type: 'boolean', help: 'print the result as JSON (messages and progress go to stderr)' },
  'api-url': { type: 'string', help: '<url> the API (or ADDONS_API_URL)' },
  'no-wait': { type: 'boolean', help: 'return once the operation has started' },
  timeout: { type: 'string', help: '<seconds> stop waiting after this long (exit 6; the operation goes on)' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

const optionLines = (options: Record<string, OptionSpec>) =>
  Object.entries(options).map(([name, option]) => {
    const [placeholder, ...rest] = option.help.startsWith('<') ? option.help.split(' ') : ['', option.help];
    const flagText = `${option.short ? `-${option.short}, ` : '    '}--${name}${placeholder ? ` ${placeholder}` : ''}`;
    return `  ${flagText.padEnd(34)} ${rest.join(' ')}`;
  });

const generalHelp = () =>
  [
    'Usage: addons <command> [arguments] [options]',
    '',
    'Commands:',
    ...COMMANDS.map(
      (command) => `  ${`${command.words.join(' ')} ${command.args}`.padEnd(36)} ${command.summary}`,
    ),
    '',
    'Options of every command:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Configuration: ADDONS_API_URL, ADDONS_TOKEN, ADDONS_PROJECT, or a config file (ADDONS_CONFIG,',
    'else .addons/cli.json written by `npm start`, else ~/.config/addons/config.json).',
    'Exit status: 0 ok/completed, 1 operation failed, 2 usage, 3 API error, 4 operation aborted,',
    '5 local error (e.g. SHA-256 mismatch), 6 wait timed out, 130 Ctrl-C while waiting.',
    'Run `addons <command> --help` for its options.',
  ].join('\n');

const commandHelp = (command: CommandSpec) =>
  [
    `Usage: addons ${command.words.join(' ')} ${command.args} [options]`.replace(
      /\s+\[options\]/,
      ' [options]',
    ),
    '',
    command.summary,
    ...(command.options ? ['', 'Options:', ...optionLines(command.options)] : []),
    '',
    'Options of every command:',
    ...optionLines(GLOBAL_OPTIONS),
  ].join('\n');

const VALUE_OPTIONS = new Set(
  [...COMMANDS.flatMap((command) => Object.entries(command.options ?? {})), ...Object.entries(GLOBAL_OPTIONS)]
    .filter(([, option]) => option.type === 'string')
    .flatMap(([name, option]) => [`--${name}`, ...(option.short ? [`-${option.short}`] : [])]),
);

/** The words before the first option, skipping option values: what names the command. */
const leadingWords = (args: string[]): string[] => {
  const words: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    if (arg.startsWith('-')) {
      if (VALUE_OPTIONS.has(arg)) index++;
      continue;
    }
    words.push(arg);
  }
  return words;
};

const findCommand = (words: string[]) =>
  COMMANDS.filter((command) => command.words.every((word, index) => words[index] === word)).sort(
    (a, b) => b.words.length - a.words.length,
  )[0];

export const main = async (argv: string[]): Promise<number> => {
  const separator = argv.indexOf('--');
  const args = separator === -1 ? argv : argv.slice(0, separator);
  const rest = separator === -1 ? [] : argv.slice(separator + 1);
  const words = leadingWords(args);
  const command = findCommand(words);
  if (!command) {
    if (words.length === 0 || words[0] === 'help' || args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`${generalHelp()}\n`);
      return words.length === 0 && !args.includes('--help') && !args.includes('-h') ? EXIT.usage : EXIT.ok;
    }
    throw usageError(`Unknown command '${words.join(' ')}'; run \`addons --help\``);
  }
  const { values, positionals } = parseArgs({
    args,
    options: { ...GLOBAL_OPTIONS, ...command.options },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return EXIT.ok;
  }
  const given = positionals.slice(command.words.length);
  const { required, optional } = arity(command.args);
  if (given.length < required || given.length > required + optional) {
    throw usageError(`Usage: addons ${command.words.join(' ')} ${command.args}`);
  }
  const context = createContext(values as Values);
  return command.run(context, { positionals: given, values: values as Values, rest });
};

main(process.argv.slice(2))
  .catch((error: unknown) => {
    // parseArgs' own errors (unknown option, missing value) are usage errors.
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`Error: ${error.message}\n`);
      return EXIT.usage;
    }
    return reportError(error);
  })
  .then((code) => {
    process.exitCode = code;
  });
