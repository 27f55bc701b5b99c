import { addonsRoutes } from './routes/addons.ts';
import { alertsRoutes } from './routes/alerts.ts';
import { backupsRoutes } from './routes/backups.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { credentialsRoutes } from './routes/credentials.ts';
import { importsRoutes } from './routes/imports.ts';
import { metaRoutes } from './routes/meta.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { operationsRoutes } from './routes/operations.ts';
import { pitrRoutes } from './routes/pitr.ts';
import { schedulesRoutes } from './routes/schedules.ts';
import { secretGroupsRoutes } from './routes/secret-groups.ts';
import { upgradesRoutes } from './routes/upgrades.ts';

/**
 * The route table: the single source for routing (API Gateway and the local gateway), validation
 * and OpenAPI. Each family of routes lives in its own module under `routes/`, and every family
 * is served by one API function: a function's handler imports only its own families (its route
 * table, in `functions/api/`), so its bundle builds only their schemas (docs/performance.md).
 * The order here is the order of the OpenAPI document.
 */
export const routes = {
  ...metaRoutes,
  ...catalogRoutes,
  ...addonsRoutes,
  ...credentialsRoutes,
  ...backupsRoutes,
  ...pitrRoutes,
  ...upgradesRoutes,
  ...schedulesRoutes,
  ...importsRoutes,
  ...operationsRoutes,
  ...secretGroupsRoutes,
  ...metricsRoutes,
  ...alertsRoutes,
} as const;

export type Routes = typeof routes;
export type RouteId = keyof Routes;
export const allRoutes = Object.values(routes);
