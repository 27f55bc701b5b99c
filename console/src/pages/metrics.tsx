import { useApi, useLoad } from '../hooks.ts';
import type { Addon, MetricSeries } from '../types.ts';
import { ProblemView } from '../ui/problem.tsx';

/** What the addon page draws: the common series every target publishes for the engine. */
const NAMES: Record<Addon['engine'], string> = {
  postgresql: 'cpu,connections,postgresql.transactions',
  mysql: 'cpu,connections,mysql.queries',
  redis: 'cpu,connections,redis.hit-ratio',
  mongodb: 'cpu,connections,mongodb.operations',
};

const WIDTH = 160;
const HEIGHT = 32;

const formatted = (value: number, unit: string) => {
  const number = unit === 'bytes' ? value / 1024 ** 2 : value;
  const suffix =
    {
      percent: ' %',
      bytes: ' MiB',
      count: '',
      'per-second': '/s',
      'bytes-per-second': ' B/s',
      seconds: ' s',
    }[unit] ?? '';
  return `${number.toFixed(number < 10 ? 1 : 0)}${suffix}`;
};

/** One series as an inline SVG polyline: gaps (no sample) break the line. */
const Sparkline = ({ series }: { series: MetricSeries }) => {
  const values = series.values;
  const known = values.filter((value): value is number => value !== null);
  const latest = known.at(-1);
  const max = Math.max(1, ...known);
  const segments: string[][] = [[]];
  values.forEach((value, index) => {
    if (value === null) {
      if ((segments.at(-1) ?? []).length > 0) segments.push([]);
      return;
    }
    const x = values.length > 1 ? (index / (values.length - 1)) * WIDTH : 0;
    const y = HEIGHT - (value / max) * (HEIGHT - 2) - 1;
    segments.at(-1)?.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  const label = `${series.name}: ${latest === undefined ? 'no samples yet' : `latest ${formatted(latest, series.unit)}`}`;
  return (
    <figure className="sparkline">
      <svg width={WIDTH} height={HEIGHT} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label}>
        {segments
          .filter((points) => points.length > 0)
          .map((points) => (
            <polyline
              key={points[0]}
              points={points.join(' ')}
              fill="none"
              stroke="currentColor"
              strokeWidth="1.5"
            />
          ))}
      </svg>
      <figcaption>
        {series.name} <strong>{latest === undefined ? '–' : formatted(latest, series.unit)}</strong>
      </figcaption>
    </figure>
  );
};

/** The addon's last hour, refreshed every 10 s. */
export const Metrics = ({ projectId, addon }: { projectId: string; addon: Addon }) => {
  const api = useApi();
  const metrics = useLoad(
    () => api.metrics(projectId, addon.id, NAMES[addon.engine]),
    [api, projectId, addon.id],
    {
      pollMs: 10_000,
      poll: () => true,
    },
  );
  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics (last hour)</h2>
      <ProblemView problem={metrics.problem} />
      <div className="sparklines">
        {metrics.data?.series.map((series) => (
          <Sparkline key={series.name} series={series} />
        ))}
      </div>
    </section>
  );
};
