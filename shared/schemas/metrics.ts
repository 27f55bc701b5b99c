import * as z from 'zod';
import { METRIC_NAMES, METRIC_UNITS, METRICS, type MetricDefinition } from '../metrics/catalog.ts';
import { IdTextSchema, int32, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';

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

export const MetricNameSchema = z.enum(METRIC_NAMES).meta({
  id: 'MetricName',
  description: `A series of the metric catalog:\n- ${catalogDescription}`,
});
export const MetricUnitSchema = z.enum(METRIC_UNITS).meta({ id: 'MetricUnit' });

const isoInstant = z.iso.datetime({ offset: true }).max(40);

/**
 * `names` is comma-separated (`cpu,connections`); unknown names are a 400 naming `names` (query-string fields are named bare, as elsewhere).
 * `from`/`to`/`step` are checked against each other by the service (they depend on one another).
 */
export const MetricsQuerySchema = z.object({
  names: z
    .string()
    .max(2048)
    .transform((text, ctx) => {
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
        else ctx.addIssue({ code: 'custom', message: `'${name.slice(0, 64)}' is not a metric name` });
      }
      return parsed;
    })
    .optional()
    .meta({
      description:
        'Comma-separated metric names (see `MetricName`); every series of the engine this target serves when omitted',
    }),
  from: isoInstant
    .optional()
    .meta({ description: 'Start of the window (ISO 8601); default: one hour before `to`' }),
  to: isoInstant.optional().meta({ description: 'End of the window (ISO 8601); default: now' }),
  step: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_METRIC_STEP_SECONDS)
    .meta({
      format: 'int32',
      description: `Seconds per point; at most ${MAX_METRIC_POINTS} points per series, on AWS a multiple of 60. Default: the smallest that fits`,
    })
    .optional(),
});
export type MetricsQuery = z.infer<typeof MetricsQuerySchema>;

export const MetricSeriesSchema = z
  .object({
    name: MetricNameSchema,
    unit: MetricUnitSchema,
    /** Aligned with `timestamps`: null where no sample fell in the step. */
    values: z.array(z.number().nullable()).max(MAX_METRIC_POINTS),
  })
  .meta({ id: 'MetricSeries' });
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;

export const MetricsResponseSchema = z
  .object({
    addonId: IdTextSchema,
    engine: EngineSchema,
    from: text(40).meta({ description: 'Start of the first step (ISO 8601)' }),
    to: text(40).meta({ description: 'End of the last step (ISO 8601)' }),
    step: int32(1, MAX_METRIC_STEP_SECONDS).meta({ description: 'Seconds per point' }),
    timestamps: z
      .array(text(40))
      .max(MAX_METRIC_POINTS)
      .meta({ description: 'Start of each step (ISO 8601); every series has one value per timestamp' }),
    series: z.array(MetricSeriesSchema).max(METRIC_NAMES.length),
  })
  .meta({ id: 'Metrics' });
export type MetricsResponse = z.infer<typeof MetricsResponseSchema>;
