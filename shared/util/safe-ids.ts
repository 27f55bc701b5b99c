import { ValidationError } from '../errors.ts';
import { PROJECT_ID_PATTERN, SafeIdSchema } from '../schemas/common.ts';

/**
 * Defence in depth for every place that builds a file path, S3 key or resource name from ids:
 * the API validates them at the edge, and this refuses them again where a `..` or a `/` would
 * do harm (a caller that skipped the edge, a record written by an older version).
 */
export const assertSafeIds = (ids: { projectId?: string } & Record<string, string | undefined>): void => {
  const issues = Object.entries(ids).flatMap(([name, value]) => {
    if (value === undefined) return [];
    const safe =
      name === 'projectId' ? PROJECT_ID_PATTERN.test(value) : SafeIdSchema.safeParse(value).success;
    return safe ? [] : [{ path: name, message: 'is not a safe identifier' }];
  });
  if (issues.length > 0) {
    throw new ValidationError(
      `Refusing an unsafe identifier (${issues.map((i) => i.path).join(', ')})`,
      issues,
    );
  }
};
