import { TransientError } from '../../errors.ts';

const UPGRADE = /upgrad/i;
const FAILED = /fail|unable|cannot|could not|not be upgraded|incompatib|refused|error/i;

/** The latest event message that says an engine upgrade failed (RDS, ElastiCache events), if any. */
export const upgradeFailureIn = (messages: readonly (string | undefined)[]): string | undefined =>
  messages.findLast((message) => message !== undefined && UPGRADE.test(message) && FAILED.test(message));

/**
 * Reads the service's events for the reason an upgrade failed: only a diagnostic, so a refused
 * read (a permission, an unknown source) leaves the reason without it; a transient error is
 * thrown so the task is retried.
 */
export const eventsSaying = async (
  read: () => Promise<(string | undefined)[]>,
): Promise<string | undefined> => {
  try {
    return upgradeFailureIn(await read());
  } catch (error) {
    if (error instanceof TransientError) throw error;
    return undefined;
  }
};
