import type { Logger } from '@aws-lambda-powertools/logger';
import type { CursorSigner } from '#shared/api/cursors.ts';
import { createHttpHandler, type IdempotencyOptions, type RouteImpls } from '#shared/api/http-handler.ts';
import type { RateLimiter } from '#shared/api/rate-limit.ts';
import { backupsRoutes } from '#shared/api/routes/backups.ts';
import { importsRoutes } from '#shared/api/routes/imports.ts';
import { pitrRoutes as pitrRouteDefs } from '#shared/api/routes/pitr.ts';
import { schedulesRoutes } from '#shared/api/routes/schedules.ts';
import { upgradesRoutes } from '#shared/api/routes/upgrades.ts';
import type { BackupService } from '#shared/services/backup-service.ts';
import type { ExportService } from '#shared/services/export-service.ts';
import type { ImportService } from '#shared/services/import-service.ts';
import type { PitrService } from '#shared/services/pitr-service.ts';
import type { ScheduleService } from '#shared/services/schedule-service.ts';
import type { UpgradeService } from '#shared/services/upgrade-service.ts';

export interface BackupsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  backups: BackupService;
  schedules: ScheduleService;
  /** Imports of uploaded files; without it their routes answer 404 as unknown routes do. */
  imports?: ImportService;
  /** Point-in-time restores in place; without it their route answers 404 as unknown routes do. */
  pitr?: PitrService;
  /** Backup exports to users' buckets; without it the route answers 404 as unknown routes do. */
  exports?: ExportService;
  /** Engine version upgrades (a backup first); without it the route answers 404 as unknown routes do. */
  upgrades?: UpgradeService;
  idempotency?: IdempotencyOptions;
  cursors: CursorSigner;
}

/** The routes this function serves (its bundle holds no other route's schemas). */
export const backupsFunctionRoutes = {
  ...backupsRoutes,
  ...pitrRouteDefs,
  ...schedulesRoutes,
  ...importsRoutes,
  ...upgradesRoutes,
} as const;
type BackupsRouteImpls = RouteImpls<typeof backupsFunctionRoutes>;

const operationLocation = (projectId: string, operationId: string) =>
  `/v1/projects/${projectId}/operations/${operationId}`;

const exportRoutes = (exports: ExportService): BackupsRouteImpls => ({
  exportBackup: async ({ params, body }) => {
    const result = await exports.start(params.projectId, params.addonId, params.backupId, body);
    return {
      status: 202,
      headers: { 'operation-location': operationLocation(params.projectId, result.operation.id) },
      body: result,
    };
  },
});

const importRoutes = (imports: ImportService): BackupsRouteImpls => ({
  createImport: async ({ params, body }) => {
    const result = await imports.create(params.projectId, params.addonId, body);
    return {
      status: 201,
      headers: {
        location: `/v1/projects/${params.projectId}/addons/${params.addonId}/imports/${result.import.id}`,
        'cache-control': 'no-store',
      },
      body: result,
    };
  },
  listImports: async ({ params, query }) => ({
    status: 200,
    body: await imports.list(params.projectId, params.addonId, query),
  }),
  getImport: async ({ params }) => ({
    status: 200,
    body: await imports.get(params.projectId, params.addonId, params.importId),
  }),
  startImport: async ({ params, body }) => {
    const result = await imports.start(params.projectId, params.addonId, params.importId, body);
    return {
      status: 202,
      headers: { 'operation-location': operationLocation(params.projectId, result.operation.id) },
      body: result,
    };
  },
  abortImport: async ({ params }) => ({
    status: 200,
    body: await imports.abort(params.projectId, params.addonId, params.importId),
  }),
});

const pitrRoutes = (pitr: PitrService): BackupsRouteImpls => ({
  restoreAddonToPointInTime: async ({ params, body }) => {
    const result = await pitr.restore(params.projectId, params.addonId, body.pointInTime);
    return {
      status: 202,
      headers: { 'operation-location': operationLocation(params.projectId, result.operation.id) },
      body: result,
    };
  },
});

const upgradeRoutes = (upgrades: UpgradeService): BackupsRouteImpls => ({
  upgradeAddon: async ({ params, body }) => {
    const result = await upgrades.upgrade(params.projectId, params.addonId, body.version);
    return {
      status: 202,
      headers: { 'operation-location': operationLocation(params.projectId, result.operation.id) },
      body: result,
    };
  },
});

/** Backups, restores and backup schedules of an addon. The AWS entry point is `backups-handler.ts`. */
export const createBackupsHandler = (deps: BackupsDeps) =>
  createHttpHandler(
    backupsFunctionRoutes,
    {
      createBackup: async ({ params, body }) => {
        const result = await deps.backups.create(params.projectId, params.addonId, body);
        return {
          status: 202,
          headers: {
            location: `/v1/projects/${params.projectId}/addons/${params.addonId}/backups/${result.backup.id}`,
            'operation-location': operationLocation(params.projectId, result.operation.id),
          },
          body: result,
        };
      },
      listBackups: async ({ params, query }) => ({
        status: 200,
        body: await deps.backups.list(params.projectId, params.addonId, query),
      }),
      listProjectBackups: async ({ params, query }) => ({
        status: 200,
        body: await deps.backups.listProject(params.projectId, query),
      }),
      getBackup: async ({ params }) => ({
        status: 200,
        body: await deps.backups.get(params.projectId, params.addonId, params.backupId),
      }),
      updateBackup: async ({ params, body }) => ({
        status: 200,
        body: await deps.backups.setPinned(params.projectId, params.addonId, params.backupId, body.pinned),
      }),
      deleteBackup: async ({ params }) => {
        await deps.backups.delete(params.projectId, params.addonId, params.backupId);
        return { status: 204 };
      },
      abortBackup: async ({ params }) => ({
        status: 200,
        body: await deps.backups.abort(params.projectId, params.addonId, params.backupId),
      }),
      downloadBackup: async ({ params }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await deps.backups.downloadLink(params.projectId, params.addonId, params.backupId),
      }),
      restoreBackup: async ({ params }) => {
        const result = await deps.backups.restore(params.projectId, params.addonId, params.backupId);
        return {
          status: 202,
          headers: { 'operation-location': operationLocation(params.projectId, result.operation.id) },
          body: result,
        };
      },
      ...(deps.imports ? importRoutes(deps.imports) : {}),
      ...(deps.pitr ? pitrRoutes(deps.pitr) : {}),
      ...(deps.exports ? exportRoutes(deps.exports) : {}),
      ...(deps.upgrades ? upgradeRoutes(deps.upgrades) : {}),
      createBackupSchedule: async ({ params, body }) => {
        const schedule = await deps.schedules.create(params.projectId, params.addonId, body);
        return {
          status: 201,
          headers: {
            location: `/v1/projects/${params.projectId}/addons/${params.addonId}/backup-schedules/${schedule.id}`,
          },
          body: schedule,
        };
      },
      listBackupSchedules: async ({ params }) => ({
        status: 200,
        body: { items: await deps.schedules.list(params.projectId, params.addonId) },
      }),
      updateBackupSchedule: async ({ params, body }) => ({
        status: 200,
        body: await deps.schedules.update(params.projectId, params.addonId, params.scheduleId, body),
      }),
      deleteBackupSchedule: async ({ params }) => {
        await deps.schedules.delete(params.projectId, params.addonId, params.scheduleId);
        return { status: 204 };
      },
    },
    {
      logger: deps.logger,
      rateLimiter: deps.rateLimiter,
      idempotency: deps.idempotency,
      cursors: deps.cursors,
    },
  );
