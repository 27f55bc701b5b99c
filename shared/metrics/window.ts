import { ValidationError } from '../errors.ts';
import type { MetricsWindow } from '../ports/metrics-source.ts';
import {
  MAX_METRIC_POINTS,
  MAX_METRIC_STEP_SECONDS,
  MAX_METRIC_WINDOW_SECONDS,
  type MetricsQuery,
} from '../schemas/metrics.ts';

const DEFAULT_WINDOW_SECONDS = 3_600;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * The grid a query asks for, checked: `from` before `to`, the window at most
 * MAX_METRIC_WINDOW_SECONDS, at most MAX_METRIC_POINTS steps, the step a multiple of what the
 * source can serve. Each refusal names its field. A missing step is the smallest that fits.
 */
export const resolveWindow = (
  query: Pick<MetricsQuery, 'from' | 'to' | 'step'>,
  nowSeconds: number,
  stepMultiple = 1,
): MetricsWindow => {
  const to = query.to ? seconds(query.to) : nowSeconds;
  const from = query.from ? seconds(query.from) : to - DEFAULT_WINDOW_SECONDS;
  if (from >= to) {
    throw new ValidationError('The window is empty', [{ path: 'from', message: 'must be before `to`' }]);
  }
  const span = to - from;
  if (span > MAX_METRIC_WINDOW_SECONDS) {
    throw new ValidationError('The window is too long', [
      {
        path: 'from',
        message: `the window from \`from\` to \`to\` must be at most ${MAX_METRIC_WINDOW_SECONDS / 86_400} days`,
      },
    ]);
  }
  const step =
    query.step ??
    Math.min(
      MAX_METRIC_STEP_SECONDS,
      Math.ceil(Math.ceil(span / MAX_METRIC_POINTS) / stepMultiple) * stepMultiple,
    );
  if (step % stepMultiple !== 0) {
    throw new ValidationError('The step is not one this target serves', [
      { path: 'step', message: `must be a multiple of ${stepMultiple} seconds here` },
    ]);
  }
  const points = Math.ceil(span / step);
  if (points > MAX_METRIC_POINTS) {
    throw new ValidationError('The step is too small for the window', [
      {
        path: 'step',
        message: `gives ${points} points; at most ${MAX_METRIC_POINTS} per series (a step of at least ${Math.ceil(span / MAX_METRIC_POINTS)} s for this window)`,
      },
    ]);
  }
  return { from, step, points };
};

/** Step starts of a window, ISO 8601. */
export const windowTimestamps = (window: MetricsWindow): string[] =>
  Array.from({ length: window.points }, (_, index) =>
    new Date((window.from + index * window.step) * 1000).toISOString(),
  );

// The grid arithmetic lives apart from the query checks (which bring the metrics schemas along),
// so a reader of CloudWatch needs no schema (the addons function's storage read).
export { stepIndex } from './grid.ts';
