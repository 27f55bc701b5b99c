import type * as z from 'zod/mini';
import { type FieldIssue, ValidationError } from '../errors.ts';
// English messages for zod/mini: they become the problem+json `errors[].message`.
import '../schemas/meta.ts';

const pathOf = (prefix: string, path: readonly PropertyKey[]): string =>
  [prefix, ...path.map(String)].filter(Boolean).join('.');

type Issue = z.core.$ZodIssue;

/**
 * How far a union branch is from what was sent: fields the branch does not know, or requires and
 * did not get, mean the client meant another branch; anything else is a mistake inside this one.
 */
const distance = (issues: readonly Issue[]): number =>
  issues.reduce((total, issue) => {
    if (issue.code === 'unrecognized_keys' && issue.path.length === 0) return total + 100 * issue.keys.length;
    if (issue.code === 'invalid_type' && issue.path.length === 1 && /received undefined/.test(issue.message))
      return total + 10;
    return total + 1;
  }, 0);

/**
 * A value no branch of a union takes: the issues of the branch it came closest to, so that the
 * answer names the field that is wrong (`body.source.import.multipart`) rather than the union.
 */
const closestBranch = (issue: Extract<Issue, { code: 'invalid_union' }>): Issue[] | undefined => {
  if (!('errors' in issue) || issue.errors.length === 0) return undefined;
  const ranked = [...issue.errors].sort((a, b) => distance(a) - distance(b));
  const [best, next] = ranked;
  // A tie says nothing about what was meant: name the union itself.
  if (!best || (next && distance(next) === distance(best))) return undefined;
  return best.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }));
};

const issuesIn = (issues: readonly Issue[], prefix: string): FieldIssue[] =>
  issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: pathOf(prefix, [...issue.path, key]),
        message: 'is not a known field',
      }));
    }
    if (issue.code === 'invalid_union') {
      const branch = closestBranch(issue);
      if (branch) return issuesIn(branch, prefix);
    }
    return [{ path: pathOf(prefix, issue.path), message: issue.message }];
  });

export const issuesOf = (error: z.core.$ZodError, prefix: string): FieldIssue[] =>
  issuesIn(error.issues, prefix);

/** Parse one part of a request; failures become a 400 that names every offending field. */
export const parsePart = <T extends z.ZodMiniType>(
  schema: T,
  value: unknown,
  part: string,
  prefix = '',
): z.infer<T> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(`The ${part} is not valid`, issuesOf(result.error, prefix));
};
