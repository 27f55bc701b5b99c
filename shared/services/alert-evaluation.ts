import type { AlertState, Comparison } from '../schemas/alert.ts';

/** One value of a series at the start of its step (epoch seconds). */
export interface AlertPoint {
  at: number;
  value: number;
}

export interface AlertCondition {
  comparison: Comparison;
  threshold: number;
  durationSeconds: number;
}

/** A state and since when (epoch seconds) it holds. */
export interface Evaluated {
  state: AlertState;
  since: number;
  value: number | null;
}

/** A stored state (ISO `since`) as the evaluation reads it (epoch seconds); undefined for none. */
export const evaluatedOf = (
  stored: { state: AlertState; since: string; value: number | null } | undefined,
): Evaluated | undefined =>
  stored && { state: stored.state, since: Date.parse(stored.since) / 1000, value: stored.value };

export const breaches = (condition: Pick<AlertCondition, 'comparison' | 'threshold'>, value: number) => {
  switch (condition.comparison) {
    case '>':
      return value > condition.threshold;
    case '>=':
      return value >= condition.threshold;
    case '<':
      return value < condition.threshold;
    case '<=':
      return value <= condition.threshold;
  }
};

/**
 * The state of a rule for one addon from its recent points (oldest first) and its previous state:
 *
 * - the newest point is the value now; none, or one older than `staleAfterSeconds`: no data, and
 *   the state stays as it is (undefined) — a sampler that stopped neither fires nor resolves;
 * - not breaching: `ok` (a `firing` rule resolves, a `pending` one goes back silently);
 * - breaching: since the oldest point of the unbroken run of breaching points that ends now.
 *   `firing` once that run is `durationSeconds` long (at once for 0), `pending` before; a rule
 *   already firing stays firing, since when it started.
 *
 * The caller passes at least `durationSeconds` of points, so a run as long as the window fires.
 */
export const evaluateCondition = (
  condition: AlertCondition,
  previous: Evaluated | undefined,
  points: readonly AlertPoint[],
  now: number,
  staleAfterSeconds: number,
): Evaluated | undefined => {
  const latest = points.at(-1);
  if (!latest || now - latest.at > staleAfterSeconds) return undefined;
  if (!breaches(condition, latest.value)) {
    return { state: 'ok', since: previous?.state === 'ok' ? previous.since : now, value: latest.value };
  }
  if (previous?.state === 'firing') return { state: 'firing', since: previous.since, value: latest.value };
  let start = latest.at;
  for (let index = points.length - 2; index >= 0; index -= 1) {
    const point = points[index] as AlertPoint;
    if (!breaches(condition, point.value)) break;
    start = point.at;
  }
  if (now - start >= condition.durationSeconds) return { state: 'firing', since: now, value: latest.value };
  return { state: 'pending', since: start, value: latest.value };
};

/** A change worth a notification: into `firing`, or out of it. */
export const notificationOf = (
  previous: AlertState | undefined,
  next: AlertState,
): 'firing' | 'resolved' | undefined => {
  if (next === 'firing' && previous !== 'firing') return 'firing';
  if (next !== 'firing' && previous === 'firing') return 'resolved';
  return undefined;
};
