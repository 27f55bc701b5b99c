import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * Product schemas are built with `zod/mini` (docs/performance.md, cold starts): classic zod
 * gives every schema instance all of its methods, and one import of `'zod'` anywhere in a
 * Lambda's module graph brings its 99 KB back. This module gives mini what classic did:
 *
 * - English messages: mini loads no locale (every message would be "Invalid input"), and the
 *   API quotes zod's messages in its problem+json `errors[].message` (zod-issues.ts). The
 *   environment's parser (config/env.ts), which every function and job runs first, and
 *   zod-issues.ts import this module, so the locale is set before anything is parsed. English
 *   alone: `z.locales.en()` would bundle every locale.
 * - `meta(schema, data)`, what classic `.meta(data)` (and `.describe(text)`) did: a CLONE of the
 *   schema registered in the global registry, its description, example or component `id` on
 *   the clone only. Mini's `.register(z.globalRegistry, data)` registers the same instance, so a
 *   schema shared by two fields would keep only the last description.
 */
z.config(en());

export const meta = <T extends z.core.$ZodType>(schema: T, data: z.core.GlobalMeta): T => {
  const copy = z.clone(schema);
  z.globalRegistry.add(copy, data);
  return copy;
};
