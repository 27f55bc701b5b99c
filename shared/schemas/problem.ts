import * as z from 'zod';
import { IdTextSchema, int32, int64, MessageSchema, text } from './bounds.ts';

/** RFC 9457 problem details. */
export const ProblemSchema = z
  .object({
    type: text(256).meta({ description: 'URI reference naming the problem type' }),
    title: text(256),
    status: int32(400, 599),
    detail: MessageSchema.optional(),
    instance: text(2048).optional(),
    errors: z
      .array(
        z.object({
          path: text(256).meta({ description: 'Dotted path of the offending field' }),
          message: MessageSchema,
        }),
      )
      .max(100)
      .optional(),
    operationId: IdTextSchema.optional().meta({ description: 'The operation in flight, on a 409' }),
    quota: text(64)
      .optional()
      .meta({ description: 'The quota a request went over, on a 422 (e.g. `addons-per-project`)' }),
    limit: int64(0)
      .optional()
      .meta({ description: 'The value of that quota, or of the rate limit on a 429' }),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof ProblemSchema>;
