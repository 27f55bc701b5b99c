const TONES: Record<string, string> = {
  running: 'ok',
  completed: 'ok',
  failed: 'bad',
  aborted: 'bad',
  deleting: 'warn',
  degraded: 'warn',
  recovered: 'ok',
  succeeded: 'ok',
  enabled: 'ok',
  disabled: 'warn',
  // An alert rule's state on an addon (`pending` alone is an operation's, still moving).
  'alert-ok': 'ok',
  'alert-pending': 'warn',
  'alert-firing': 'bad',
};

/** A status in words and colour (the word carries the meaning; colour only repeats it). */
export const Status = ({ value, tone }: { value: string; tone?: string }) => (
  <span className={`status status-${TONES[tone ?? value] ?? 'busy'}`}>{value}</span>
);

export const when = (timestamp: string | null | undefined) =>
  timestamp
    ? new Date(timestamp).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
    : '—';

export const bytes = (value: number | null | undefined) => {
  if (value === null || value === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${size.toFixed(unit ? 1 : 0)} ${units[unit]}`;
};
