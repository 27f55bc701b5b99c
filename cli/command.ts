import type { Context, Values } from './context.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Repeatable (`--var A=1 --var B=2`): the value is an array. */
  multiple?: boolean;
  /** `<value>` placeholder and meaning, for the help text. */
  help: string;
}

/** One CLI command: its words (`backups create`), arguments, options and what it does. */
export interface CommandSpec {
  words: string[];
  /** Positional arguments, e.g. `<addon> <backup>`; `[x]` for optional ones. */
  args: string;
  summary: string;
  options?: Record<string, OptionSpec>;
  /** Runs the command; returns the exit status. `rest`: what followed `--` on the command line. */
  run(context: Context, input: { positionals: string[]; values: Values; rest: string[] }): Promise<number>;
}

/** How many required (`<x>`) and optional (`[x]`) positionals a command's `args` names. */
export const arity = (args: string) => ({
  required: (args.match(/<[^>]+>/g) ?? []).length,
  optional: (args.match(/\[[^\]]+\]/g) ?? []).length,
});
