import * as z from 'zod/mini';
import { IdTextSchema, int32, int64, MessageSchema, text } from './bounds.ts';
import { meta } from './meta.ts';

/** RFC 9457 problem details. */
export const ProblemSchema = meta(
  z.object({
    type: meta(text(256), { description: 'URI reference naming the problem type' }),
    title: text(256),
    status: int32(400, 599),
    detail: z.optional(MessageSchema),
    instance: z.optional(text(2048)),
    errors: z.optional(
      z
        .array(
          z.object({
            path: meta(text(256), { description: 'Dotted path of the offending field' }),
            message: MessageSchema,
          }),
        )
        .check(z.maxLength(100)),
    ),
    operationId: meta(z.optional(IdTextSchema), { description: 'The operation in flight, on a 409' }),
    quota: meta(z.optional(text(64)), {
      description: 'The quota a request went over, on a 422 (e.g. `addons-per-project`)',
    }),
    limit: meta(z.optional(int64(0)), {
      description: 'The value of that quota, or of the rate limit on a 429',
    }),
  }),
  { id: 'Problem' },
);
export type Problem = z.infer<typeof ProblemSchema>;
