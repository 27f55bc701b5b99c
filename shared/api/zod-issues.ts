import type { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.ts';

const pathOf = (prefix: string, path: readonly PropertyKey[]): string =>
  [prefix, ...path.map(String)].filter(Boolean).join('.');

export const issuesOf = (error: z.ZodError, prefix: string): FieldIssue[] =>
  error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: pathOf(prefix, [...issue.path, key]),
        message: 'is not a known field',
      }));
    }
    if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length === 0) {
      return [{ path: pathOf(prefix, issue.path), message: issue.message }];
    }
    return [{ path: pathOf(prefix, issue.path), message: issue.message }];
  });

/** Parse one part of a request; failures become a 400 that names every offending field. */
export const parsePart = <T extends z.ZodType>(
  schema: T,
  value: unknown,
  part: string,
  prefix = '',
): z.infer<T> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(`The ${part} is not valid`, issuesOf(result.error, prefix));
};
