import * as z from 'zod';
import { MAX_PAGE_ITEMS, queryInt32 } from './bounds.ts';

/** DNS-safe label: it becomes part of hostnames and AWS identifiers. */
export const NameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(40, 'must be at most 40 characters')
  .regex(
    /^[a-z]([a-z0-9-]*[a-z0-9])?$/,
    'must be DNS-safe: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
  );

export const ProjectIdSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lower-case letters, digits and hyphens')
  .meta({ description: 'Project identifier' });

export const ResourceIdSchema = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[a-z0-9-]+$/, 'is not a valid identifier');

export const TimestampSchema = z.iso.datetime().max(40).meta({ description: 'RFC 3339 timestamp, UTC' });

export const PaginationQuerySchema = z.object({
  limit: queryInt32(1, MAX_PAGE_ITEMS)
    .default(20)
    .meta({ description: `Page size, 1 to ${MAX_PAGE_ITEMS}` }),
  cursor: z.string().max(2048).optional().meta({ description: 'Opaque cursor from a previous page' }),
});
export type PaginationQuery = z.infer<typeof PaginationQuerySchema>;

export const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z
    .object({
      items: z.array(item).max(MAX_PAGE_ITEMS),
      nextCursor: z
        .string()
        .max(2048)
        .nullable()
        .meta({ description: 'Pass as `cursor` to get the next page; null on the last' }),
    })
    .meta({ id });

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
