import { writeFileSync } from 'node:fs';
import type { OpenAPI3 } from 'openapi-typescript';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import { CLIENT_TYPES_FILE, generateClientTypes } from './client-types.ts';

/**
 * Regenerates the committed openapi.json and the typed client's generated module
 * (client/generated/api.ts) from it; unit tests fail when either is stale.
 */
const document = JSON.parse(JSON.stringify(buildOpenApiDocument())) as OpenAPI3;
writeFileSync(new URL('../openapi.json', import.meta.url), `${JSON.stringify(document, null, 2)}\n`);
console.info('openapi.json written');
writeFileSync(CLIENT_TYPES_FILE, await generateClientTypes(document));
console.info('client/generated/api.ts written');
