import * as z from 'zod/mini';
import { METRIC_NAMES, METRIC_UNITS, METRICS, type MetricDefinition } from '../metrics/catalog.ts';
import { IdTextSchema, int32, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import { meta } from './meta.ts';

/** At most this many points per series in one answer: `(to - from) / step`. */
export const MAX_METRIC_POINTS = 1440;
/** The longest window one request may ask for. The local target keeps 24 hours (docs/metrics.md). */
export const MAX_METRIC_WINDOW_SECONDS = 14 * 86_400;
/** The longest step (a day). */
export const MAX_METRIC_STEP_SECONDS = 86_400;

const catalogDescription = METRIC_NAMES.map((name) => {
  const definition: MetricDefinition = METRICS[name];
  const engines = definition.engines ? `; ${definition.engines.join(', ')} only` : '';
  return `\`${name}\` (${definition.unit}${engines}): ${definition.description}`;
}).join('\n- ');

export const MetricNameSchema = meta(z.enum(METRIC_NAMES), {
  id: 'MetricName',
  description: `A series of the metric catalog:\n- ${catalogDescription}`,
});
export const MetricUnitSchema = meta(z.enum(METRIC_UNITS), { id: 'MetricUnit' });

const isoInstant = z.iso.datetime({ offset: true }).check(z.maxLength(40));

/**
 * `names` is comma-separated (`cpu,connections`); unknown names are a 400 naming `names` (query-string fields are named bare, as elsewhere).
 * `from`/`to`/`step` are checked against each other by the service (they depend on one another).
 */
export const MetricsQuerySchema = z.object({
  names: meta(
    z.optional(
      z.pipe(
        z.string().check(z.maxLength(2048)),
        z.transform((text, ctx) => {
          const names = [
            ...new Set(
              text
                .split(',')
                .map((name) => name.trim())
                .filter(Boolean),
            ),
          ];
          const parsed: z.infer<typeof MetricNameSchema>[] = [];
          for (const name of names) {
            const result = MetricNameSchema.safeParse(name);
            if (result.success) parsed.push(result.data);
            else
              ctx.issues.push({
                code: 'custom',
                message: `'${name.slice(0, 64)}' is not a metric name`,
                input: text,
              });
          }
          return parsed;
        }),
      ),
    ),
    {
      description:
        'Comma-separated metric names (see `MetricName`); every series of the engine this target serves when omitted',
    },
  ),
  from: meta(z.optional(isoInstant), {
    description: 'Start of the window (ISO 8601); default: one hour before `to`',
  }),
  to: meta(z.optional(isoInstant), { description: 'End of the window (ISO 8601); default: now' }),
  step: z.optional(
    meta(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MAX_METRIC_STEP_SECONDS)), {
      format: 'int32',
      description: `Seconds per point; at most ${MAX_METRIC_POINTS} points per series, on AWS a multiple of 60. Default: the smallest that fits`,
    }),
  ),
});
export type MetricsQuery = z.infer<typeof MetricsQuerySchema>;

export const MetricSeriesSchema = meta(
  z.object({
    name: MetricNameSchema,
    unit: MetricUnitSchema,
    /** Aligned with `timestamps`: null where no sample fell in the step. */
    values: z.array(z.nullable(z.number())).check(z.maxLength(MAX_METRIC_POINTS)),
  }),
  { id: 'MetricSeries' },
);
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;

export const MetricsResponseSchema = meta(
  z.object({
    addonId: IdTextSchema,
    engine: EngineSchema,
    from: meta(text(40), { description: 'Start of the first step (ISO 8601)' }),
    to: meta(text(40), { description: 'End of the last step (ISO 8601)' }),
    step: meta(int32(1, MAX_METRIC_STEP_SECONDS), { description: 'Seconds per point' }),
    timestamps: meta(z.array(text(40)).check(z.maxLength(MAX_METRIC_POINTS)), {
      description: 'Start of each step (ISO 8601); every series has one value per timestamp',
    }),
    series: z.array(MetricSeriesSchema).check(z.maxLength(METRIC_NAMES.length)),
  }),
  { id: 'Metrics' },
);
export type MetricsResponse = z.infer<typeof MetricsResponseSchema>;
