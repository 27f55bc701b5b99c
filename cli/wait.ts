import { type Operation, WaitTimeoutError } from '../client/index.ts';
import type { Context } from './context.ts';
import { EXIT } from './exit-codes.ts';

const BAR_WIDTH = 24;

/** `[#########---------------]  38%  dump (in-progress)` */
const progressLine = (operation: Operation) => {
  const percent = Math.max(0, Math.min(100, operation.progress.percent));
  const filled = Math.round((percent / 100) * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  return `${bar} ${String(percent).padStart(3)}%  ${operation.progress.step} (${operation.status})`;
};

/** How an ended operation maps to the exit status. */
export const exitCodeOf = (operation: Operation): number =>
  operation.status === 'completed' ? EXIT.ok : operation.status === 'aborted' ? EXIT.aborted : EXIT.failed;

class Interrupted extends Error {}

/**
 * Follows an operation to its end unless `--no-wait`: a progress bar rewritten in place on a
 * terminal, one line per change otherwise (logs, CI), on stderr. Ctrl-C stops waiting and never
 * aborts the operation: it prints how to follow it again and the CLI exits 130.
 * Returns the operation (as started with --no-wait, else as ended) and the exit status.
 */
export const follow = async (
  context: Context,
  started: Operation,
): Promise<{ operation: Operation; exitCode: number }> => {
  const { out, project } = context;
  const resume = `addons operations wait ${started.id} --project ${project()}`;
  if (!context.wait) {
    out.info(`Operation ${started.id} started (${started.type}); follow it with: ${resume}`);
    return { operation: started, exitCode: EXIT.ok };
  }
  const tty = Boolean(process.stderr.isTTY);
  let drawn = false;
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Interrupted());
  process.on('SIGINT', onSigint);
  try {
    const operation = await context.api.waitForOperation(project(), started.id, {
      signal: controller.signal,
      intervalMs: context.pollMs,
      ...(context.timeoutMs === undefined ? {} : { timeoutMs: context.timeoutMs }),
      onProgress: (current) => {
        if (tty) {
          process.stderr.write(`\r\x1b[2K${progressLine(current)}`);
          drawn = true;
        } else {
          process.stderr.write(
            `${current.id} ${current.status} ${current.progress.step} ${current.progress.percent}%\n`,
          );
        }
      },
    });
    if (drawn) process.stderr.write('\n');
    if (operation.status === 'completed') {
      out.info(`Operation ${operation.id} completed${operation.message ? `: ${operation.message}` : ''}`);
    } else {
      const why = operation.error ? `: ${operation.error.code}: ${operation.error.message}` : '';
      out.info(`Operation ${operation.id} ${operation.status}${why}`);
    }
    return { operation, exitCode: exitCodeOf(operation) };
  } catch (error) {
    if (drawn) process.stderr.write('\n');
    if (error instanceof Interrupted || error instanceof WaitTimeoutError) {
      const last = error instanceof WaitTimeoutError ? error.last : undefined;
      out.info(
        `${error instanceof Interrupted ? 'Stopped waiting' : 'Timed out waiting'}: operation ${started.id} goes on (it was not aborted).\nFollow it again with: ${resume}`,
      );
      return {
        operation: last ?? started,
        exitCode: error instanceof Interrupted ? EXIT.interrupted : EXIT.timedOut,
      };
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
};
