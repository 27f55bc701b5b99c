import * as z from 'zod/mini';
import { MAX_PAGE_ITEMS, queryInt32 } from './bounds.ts';
import { meta } from './meta.ts';

/** DNS-safe label: it becomes part of hostnames and AWS identifiers. */
export const NameSchema = z
  .string()
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(40, 'must be at most 40 characters'),
    z.regex(
      /^[a-z]([a-z0-9-]*[a-z0-9])?$/,
      'must be DNS-safe: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
    ),
  );

/**
 * A project id is a DNS label: it becomes part of secret names, S3 keys and, locally, file
 * paths. Nothing but lower-case letters, digits and inner hyphens can ever reach those, so
 * `..%2F` and friends stop at the edge (and `assertSafeIds` refuses them again at the paths).
 */
export const PROJECT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

// `abort`: one message per id (the first rule it breaks), not one per rule.
export const ProjectIdSchema = meta(
  z
    .string()
    .check(
      z.minLength(1, { message: 'must not be empty', abort: true }),
      z.maxLength(63, { message: 'must be at most 63 characters', abort: true }),
      z.regex(
        PROJECT_ID_PATTERN,
        'must be DNS-safe: lower-case letters, digits and hyphens, starting and ending with a letter or digit',
      ),
    ),
  { description: 'Project identifier (DNS label: a-z, 0-9 and hyphens, at most 63 characters)' },
);

/** Ids the platform generates (`util/ids.ts`): a kind prefix, then lower-case letters and digits. */
export const RESOURCE_ID_PREFIXES = {
  addon: 'adn',
  backup: 'bkp',
  operation: 'op',
  schedule: 'sch',
  import: 'imp',
  secretGroup: 'sgr',
  externalService: 'ext',
  alertRule: 'alr',
} as const;
export type ResourceKind = keyof typeof RESOURCE_ID_PREFIXES;
const RESOURCE_ID_MAX = 80;
/** What any id must look like before it becomes a path segment, key part or resource name. */
export const SAFE_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** Internal messages (job specs) carry ids the platform made: the safe shape, whatever the kind. */
export const SafeIdSchema = z
  .string()
  .check(z.maxLength(RESOURCE_ID_MAX), z.regex(SAFE_ID_PATTERN, 'is not a safe identifier'));

const resourceIdSchema = (kind: ResourceKind) => {
  const prefix = RESOURCE_ID_PREFIXES[kind];
  return meta(
    z.string().check(
      z.minLength(1, { message: 'must not be empty', abort: true }),
      z.maxLength(RESOURCE_ID_MAX, {
        message: `must be at most ${RESOURCE_ID_MAX} characters`,
        abort: true,
      }),
      z.regex(
        new RegExp(`^${prefix}-[a-z0-9]+(?:-[a-z0-9]+)*$`),
        `must be ${kind === 'addon' ? 'an' : 'a'} ${kind} id: '${prefix}-' then lower-case letters and digits`,
      ),
    ),
    { description: `${kind.charAt(0).toUpperCase()}${kind.slice(1)} id (${prefix}-...)` },
  );
};

export const AddonIdSchema = resourceIdSchema('addon');
export const BackupIdSchema = resourceIdSchema('backup');
export const OperationIdSchema = resourceIdSchema('operation');
export const ScheduleIdSchema = resourceIdSchema('schedule');
export const ImportIdSchema = resourceIdSchema('import');
export const SecretGroupIdSchema = resourceIdSchema('secretGroup');
export const ExternalServiceIdSchema = resourceIdSchema('externalService');
export const AlertRuleIdSchema = resourceIdSchema('alertRule');

/** The path of every route under a project: validated before anything reads the id. */
export const ProjectPathSchema = z.object({ projectId: ProjectIdSchema });

export const TimestampSchema = meta(z.iso.datetime().check(z.maxLength(40)), {
  description: 'RFC 3339 timestamp, UTC',
});

export const PaginationQuerySchema = z.object({
  limit: meta(z._default(queryInt32(1, MAX_PAGE_ITEMS), 20), {
    description: `Page size, 1 to ${MAX_PAGE_ITEMS}`,
  }),
  cursor: meta(
    z.optional(
      z
        .string()
        .check(
          z.maxLength(2048),
          z.regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'is not a cursor returned by this list'),
        ),
    ),
    {
      description:
        "Opaque cursor: a previous page's `nextCursor`, valid only for the same listing and project",
    },
  ),
});
export type PaginationQuery = z.infer<typeof PaginationQuerySchema>;

export const pageOf = <T extends z.ZodMiniType>(item: T, id: string) =>
  meta(
    z.object({
      items: z.array(item).check(z.maxLength(MAX_PAGE_ITEMS)),
      nextCursor: meta(z.nullable(z.string().check(z.maxLength(2048))), {
        description: 'Pass as `cursor` to get the next page; null on the last',
      }),
    }),
    { id },
  );

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
