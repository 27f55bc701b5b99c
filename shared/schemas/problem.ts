import * as z from 'zod';

/** RFC 9457 problem details. */
export const ProblemSchema = z
  .object({
    type: z.string().meta({ description: 'URI reference naming the problem type' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z
      .array(
        z.object({
          path: z.string().meta({ description: 'Dotted path of the offending field' }),
          message: z.string(),
        }),
      )
      .optional(),
    operationId: z.string().optional().meta({ description: 'The operation in flight, on a 409' }),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof ProblemSchema>;
