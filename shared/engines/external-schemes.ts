import type { ExternalSchemeSpec } from './external-scheme.ts';
import { externalSchemes as mongodb } from './mongodb/external-schemes.ts';
import { externalSchemes as mysql } from './mysql/external-schemes.ts';
import { externalSchemes as postgresql } from './postgresql/external-schemes.ts';
import { externalSchemes as redis } from './redis/external-schemes.ts';

/** Every URI scheme an external service may use, from the engines' own files. */
export const EXTERNAL_SCHEME_SPECS: Record<string, ExternalSchemeSpec> = {
  ...postgresql,
  ...mysql,
  ...redis,
  ...mongodb,
};
