import { spawnSync } from 'node:child_process';

/** What the `mariadb` client needs to reach an addon: its connection details. */
export interface MariaDbCredentials {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
}

/**
 * Runs statements with the `mariadb` command-line client as a user would (the password through
 * MYSQL_PWD, not the command line); rows as tab-separated fields. `database` defaults to the addon's.
 */
export const mariadbRows = (
  credentials: MariaDbCredentials,
  statements: string,
  database = credentials.database,
): string[][] => {
  const run = spawnSync(
    'mariadb',
    [
      `--host=${credentials.host}`,
      `--port=${credentials.port}`,
      `--user=${credentials.username}`,
      `--database=${database}`,
      '--batch',
      '--skip-column-names',
      '--connect-timeout=5',
    ],
    { input: statements, env: { ...process.env, MYSQL_PWD: credentials.password }, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`mariadb exited ${run.status}: ${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
};
