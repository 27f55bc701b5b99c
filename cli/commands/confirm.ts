import { createInterface } from 'node:readline/promises';
import type { Values } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';

/**
 * Asks before a command destroys or replaces data, when a person is at a terminal and did not pass
 * --yes. Scripts (no terminal on stdin) are not asked: they chose the command.
 */
export const confirm = async (values: Values, question: string): Promise<void> => {
  if (values.yes === true || !process.stdin.isTTY) return;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('Cancelled', EXIT.usage);
  } finally {
    prompt.close();
  }
};
