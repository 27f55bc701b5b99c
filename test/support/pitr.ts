import { pollUntil } from './http.ts';
import type { Api } from './operations.ts';
import { pgQuery } from './pg-fingerprint.ts';

/**
 * The end-to-end tests' waits on an addon's restorable window (point-in-time recovery), over the
 * HTTP API as a user would poll them.
 */

export interface RestorableWindow {
  earliestRestorableTime: string;
  latestRestorableTime: string;
}

/**
 * The platform settings the PITR tests run with: WAL segments archived every 2 s while the addon
 * writes, so the window follows the present closely (the default, 60 s, would make each test
 * wait a minute per point in time), and a new addon's first base backup within 2 s (not 30).
 */
export const PITR_TEST_ENV = {
  ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS: '2',
  ADDONS_PITR_MAINTENANCE_SECONDS: '2',
};

/** Seconds-precision ISO 8601, as the API takes points in time ("2026-12-01T00:15:02Z"). */
export const toSecond = (ms: number) =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** The restorable window of the addon at `base` (its API path), once it reaches `time`. */
export const windowReaching = (api: Api, base: string, time: string, timeoutMs = 180_000) =>
  pollUntil(
    async () => (await api('GET', base)).body.restorableWindow as RestorableWindow | null,
    (window) => window !== null && window.latestRestorableTime >= time,
    { timeoutMs, intervalMs: 1_000, what: `a restorable window of ${base} reaching ${time}` },
  ) as Promise<RestorableWindow>;

/**
 * The first restorable window of the addon at `base`. A new addon has none until its first base
 * backup is archived (the platform takes it within a minute) AND a commit after it is archived:
 * the window ends at the last archived commit (docs/pitr.md), so an addon that writes nothing
 * after its base backup has no window. Each poll therefore commits a transaction that changes
 * no table (`txid_current()` gives it an id, so it writes a commit record) through `uri`.
 */
export const firstWindow = (api: Api, base: string, uri: string, timeoutMs = 180_000) =>
  pollUntil(
    async () => {
      await pgQuery(uri, 'SELECT txid_current()');
      return (await api('GET', base)).body.restorableWindow as RestorableWindow | null;
    },
    (window) => window !== null,
    { timeoutMs, intervalMs: 1_000, what: `the first restorable window of ${base}` },
  ) as Promise<RestorableWindow>;

/**
 * A point in time after everything written so far: the whole second after the last commit, and
 * resolves once the clock passed it by a second, so what is written next is strictly after it.
 */
export const pointInTimeNow = async (): Promise<string> => {
  const time = toSecond(Date.now() + 1_000);
  await pollUntil(
    async () => Date.now(),
    (now) => now >= Date.parse(time) + 1_000,
    { timeoutMs: 5_000, what: 'the clock to pass the point in time' },
  );
  return time;
};
