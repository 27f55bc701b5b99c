import { AddonsApiError } from '../client/index.ts';
import { CliError, EXIT } from './exit-codes.ts';

/**
 * What the CLI prints: results on stdout (tables for people, JSON with `--json` for scripts),
 * progress and messages on stderr so that `--json` output stays parseable.
 */
export type Cell = string | number | boolean | null | undefined;

const text = (cell: Cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell));

/** Rows as aligned columns under upper-case headers. */
export const table = (rows: Record<string, Cell>[], columns: string[]): string => {
  const cells = [
    columns.map((column) => column.toUpperCase()),
    ...rows.map((row) => columns.map((c) => text(row[c]))),
  ];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => (line[index] ?? '').length)));
  return cells
    .map((line) =>
      line
        .map((cell, index) => (index === line.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

/** One resource as `key: value` lines. */
export const record = (fields: Record<string, Cell>): string => {
  const width = Math.max(...Object.keys(fields).map((key) => key.length));
  return Object.entries(fields)
    .map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${text(value)}`)
    .join('\n');
};

export interface Output {
  json: boolean;
  /** The command's result: `value` as JSON with --json, else `human()` as text. */
  result(value: unknown, human: () => string): void;
  /** A message for people (stderr; also under --json, where stdout is for the result). */
  info(message: string): void;
}

export const createOutput = (json: boolean): Output => ({
  json,
  result: (value, human) => {
    process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  },
  info: (message) => {
    process.stderr.write(`${message}\n`);
  },
});

/**
 * An error as the CLI reports it on stderr, and its exit status: an API problem with its title,
 * detail and each field issue; anything else as one line.
 */
export const reportError = (error: unknown): number => {
  if (error instanceof AddonsApiError) {
    const lines = [`Error: ${error.title} (HTTP ${error.status})`];
    if (error.detail) lines.push(`  ${error.detail}`);
    for (const issue of error.errors) lines.push(`  - ${issue.path}: ${issue.message}`);
    if (error.operationId) lines.push(`  operation in flight: ${error.operationId}`);
    if (error.quota) lines.push(`  quota ${error.quota}: ${error.limit ?? '?'}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    return EXIT.api;
  }
  if (error instanceof CliError) {
    process.stderr.write(`Error: ${error.message}\n`);
    return error.exitCode;
  }
  // fetch's network failures: the API is not reachable.
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    process.stderr.write(`Error: cannot reach the API${cause ? ` (${cause})` : ''}\n`);
    return EXIT.api;
  }
  process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT.local;
};
