import * as z from 'zod/mini';
import { meta } from './meta.ts';

/**
 * Bounded building blocks for the API schemas: every string has a maximum length, every
 * integer a range and an OpenAPI format, so validation enforces what the document promises
 * (OWASP API4:2023, unrestricted resource consumption). Response bounds are generous: they
 * are parsed again when records are read back from the table.
 */
export const int32 = (min: number, max: number) =>
  meta(z.number().check(z.int(), z.minimum(min), z.maximum(max)), { format: 'int32' });

export const int64 = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  meta(z.number().check(z.int(), z.minimum(min), z.maximum(max)), { format: 'int64' });

/** A query-string integer (query values arrive as text). */
export const queryInt32 = (min: number, max: number) =>
  meta(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), { format: 'int32' });

export const text = (max: number) => z.string().check(z.maxLength(max));

/** Server-generated identifiers: `<prefix>-<26 characters>` today, room to grow. */
export const IdTextSchema = z.string().check(z.maxLength(80));
/** A TCP port; 0 in connection details prepared before the instance has one. */
export const PortSchema = int32(0, 65535);
/** Error codes: platform error names and Step Functions error names (`States.Timeout`). */
export const ErrorCodeSchema = z.string().check(z.maxLength(256));
/** Human-readable text the platform writes (error messages, reasons); longer text is cut at write. */
export const MAX_MESSAGE_LENGTH = 8192;
export const MessageSchema = z.string().check(z.maxLength(MAX_MESSAGE_LENGTH));

/** An error as operations and backups record it, its message cut to what the schema allows. */
export const boundedError = <E extends { code: string; message: string } | null | undefined>(error: E): E =>
  error && (error.message.length > MAX_MESSAGE_LENGTH || error.code.length > 256)
    ? ({
        ...error,
        code: error.code.slice(0, 256),
        message: `${error.message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`,
      } as E)
    : error;
/** Lower-case hexadecimal SHA-256. */
export const Sha256Schema = z.string().check(z.length(64), z.regex(/^[0-9a-f]{64}$/));
/** Most items a page holds; `limit` is at most this. */
export const MAX_PAGE_ITEMS = 100;
