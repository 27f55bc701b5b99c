/**
 * The name each job's database sessions carry (PostgreSQL's `application_name`, a MySQL
 * connection's program name): what a DBA sees of the platform's work in the server's session
 * list, and how the local target finds those sessions to run them below the customers' own
 * (infra/local/engines/job-sessions.ts).
 */
export const JOB_APPLICATION_NAMES = {
  dump: 'addons-dump',
  /** A restore, and a live import's loading side. */
  restore: 'addons-restore',
  /** A live import's reading side, on the source database. */
  liveSource: 'addons-live-import',
  login: 'addons-login-job',
} as const;
