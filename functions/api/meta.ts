import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { MetaFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { NotFoundError } from '#shared/errors.ts';
import type { Target } from '#shared/schemas/catalog.ts';
import { logger } from './logger.ts';

export interface MetaDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  target: Target;
  /** Where swagger-ui's files are: node_modules locally, copied beside the bundle on Lambda. */
  docsAssetsDir?: string;
}

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/**
 * The token typed into "Authorize" lives in the page's memory only: `persistAuthorization`
 * would keep it in localStorage, where any script on the origin reads it after the tab closes.
 */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Addons platform API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#docs', persistAuthorization: false });
  </script>
</body>
</html>
`;

const defaultAssetsDir = (): string =>
  process.env.DOCS_ASSETS_DIR ??
  dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

export const createMetaHandler = (deps: MetaDeps) => {
  let document: unknown;
  const assetsDir = deps.docsAssetsDir ?? defaultAssetsDir();
  return createHttpHandler(
    {
      getHealth: async () => ({ status: 200, body: { status: 'ok', target: deps.target } }),
      getOpenApi: async () => {
        document ??= buildOpenApiDocument();
        return { status: 200, body: document };
      },
      getDocs: async () => ({
        status: 200,
        raw: { contentType: 'text/html; charset=utf-8', data: DOCS_PAGE },
      }),
      getDocsAsset: async ({ params }) => {
        const contentType = ASSETS[params.asset];
        if (!contentType) throw new NotFoundError(`No docs asset named '${params.asset}'`);
        const data = await readFile(join(assetsDir, params.asset), 'utf8');
        return {
          status: 200,
          headers: { 'cache-control': 'public, max-age=86400' },
          raw: { contentType, data },
        };
      },
    },
    { logger: deps.logger, rateLimiter: deps.rateLimiter },
  );
};

export const handler = lazyHandler(() => {
  const env = parseEnv(MetaFunctionEnvSchema);
  return createMetaHandler({ logger, target: env.ADDONS_TARGET, rateLimiter: rateLimiterFromEnv(env) });
});
