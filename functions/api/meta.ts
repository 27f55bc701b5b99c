import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { metaRoutes } from '#shared/api/routes/meta.ts';
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
  /**
   * The OpenAPI document served: the committed openapi.json (a unit test keeps it equal to what
   * `npm run openapi` generates), copied beside the bundle on Lambda. Serving the file keeps the
   * OpenAPI generator and the whole route table out of the function (cold start).
   */
  openApiFile?: string;
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

/** Beside the bundle on Lambda; the repository's copy wherever the sources run (local target, tests). */
const openApiCandidates = (): string[] => [
  ...(process.env.DOCS_ASSETS_DIR ? [join(process.env.DOCS_ASSETS_DIR, 'openapi.json')] : []),
  fileURLToPath(new URL('../../openapi.json', import.meta.url)),
];

const readFirst = async (files: string[]): Promise<string> => {
  for (const file of files.slice(0, -1)) {
    try {
      return await readFile(file, 'utf8');
    } catch {
      // Not there: the next place.
    }
  }
  return readFile(files.at(-1) ?? '', 'utf8');
};

const defaultAssetsDir = (): string =>
  process.env.DOCS_ASSETS_DIR ??
  dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The routes this function serves (its bundle holds no other route's schemas). */
export const metaFunctionRoutes = metaRoutes;

export const createMetaHandler = (deps: MetaDeps) => {
  let document: Promise<unknown> | undefined;
  const assetsDir = deps.docsAssetsDir ?? defaultAssetsDir();
  const openApiFiles = deps.openApiFile ? [deps.openApiFile] : openApiCandidates();
  return createHttpHandler(
    metaFunctionRoutes,
    {
      getHealth: async () => ({ status: 200, body: { status: 'ok', target: deps.target } }),
      getOpenApi: async () => {
        document ??= readFirst(openApiFiles)
          .then((text) => JSON.parse(text) as unknown)
          .catch((error: unknown) => {
            document = undefined;
            throw error;
          });
        return { status: 200, body: await document };
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
