import { writeFileSync } from 'node:fs';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';

/** Regenerates the committed openapi.json (a test fails when it is stale). */
writeFileSync(
  new URL('../openapi.json', import.meta.url),
  `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`,
);
console.info('openapi.json written');
