import { ValidationError } from '../errors.ts';

type Key = Record<string, unknown>;

/**
 * Store cursors: the DynamoDB LastEvaluatedKey, base64url JSON, checked against the partition
 * it came from. The API signs them and binds them to the listing (`api/cursors.ts`); this check
 * stays as a second line.
 */
export const encodeCursor = (key: Key | undefined): string | null =>
  key ? Buffer.from(JSON.stringify(key), 'utf8').toString('base64url') : null;

export const decodeCursor = (cursor: string | undefined, expectedPk: string): Key | undefined => {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      typeof key === 'object' &&
      key !== null &&
      Object.values(key).every((value) => typeof value === 'string') &&
      Object.values(key).includes(expectedPk)
    ) {
      return key as Key;
    }
  } catch {
    // fall through: any undecodable cursor is the caller's error
  }
  throw new ValidationError('The cursor is not valid for this list', [
    { path: 'cursor', message: 'is not a cursor returned by this list' },
  ]);
};
