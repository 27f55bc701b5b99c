import { AddonsApiError, type AddonsClient, createAddonsClient, ENDED_STATUSES } from '../../client/index.ts';
import type {
  CreateAddonRequest,
  CreateAlertRuleRequest,
  CreateBackupRequest,
  CreateExternalServiceRequest,
  CreateImportRequest,
  CreateScheduleRequest,
  CreateSecretGroupRequest,
  EventsQuery,
  NetworkingRequest,
  Problem,
  UpdateAlertRuleRequest,
  UpdateScheduleRequest,
  UpdateSecretGroupRequest,
} from './types.ts';

export { AddonsApiError };

export const TERMINAL = new Set<string>(ENDED_STATUSES);

/** Any failure as a problem the page can show: the API's own, or the network's dressed as one. */
export const problemOf = (error: unknown): Problem => {
  if (error instanceof AddonsApiError) {
    return (
      error.problem ?? {
        type: error.type,
        title: error.title,
        status: error.status,
        detail: error.detail,
        errors: error.errors,
      }
    );
  }
  if (error instanceof TypeError) {
    return { type: 'about:blank', title: 'The API cannot be reached', status: 503, detail: error.message };
  }
  return { type: 'about:blank', title: 'Something went wrong', status: 500, detail: String(error) };
};

/**
 * The console's calls, one method per route it uses, on the typed client (paths, parameters,
 * bodies and answers are checked against openapi.json at compile time). A 401 runs
 * `onUnauthorized`, so an expired or wrong token sends the user back to the sign-in page.
 */
export class Api {
  readonly client: AddonsClient;

  constructor(baseUrl: string, token: string, onUnauthorized: () => void = () => {}) {
    this.client = createAddonsClient({
      // Relative to the page when the API is on the console's own origin (the local target).
      baseUrl: baseUrl || window.location.origin,
      token,
      fetch: async (request) => {
        const response = await fetch(request);
        if (response.status === 401) onUnauthorized();
        return response;
      },
    });
  }

  addonTypes() {
    return this.client.GET('/v1/addon-types');
  }
  listAddons(projectId: string, cursor?: string) {
    return this.client.GET('/v1/projects/{projectId}/addons', {
      params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
    });
  }
  createAddon(projectId: string, body: CreateAddonRequest) {
    return this.client.POST('/v1/projects/{projectId}/addons', { params: { path: { projectId } }, body });
  }
  getAddon(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: { projectId, addonId } },
    });
  }
  deleteAddon(projectId: string, addonId: string, finalBackup?: 'dump' | 'snapshot', unlinkGroups = false) {
    return this.client.DELETE('/v1/projects/{projectId}/addons/{addonId}', {
      params: {
        path: { projectId, addonId },
        query: {
          ...(finalBackup ? { finalBackup } : {}),
          ...(unlinkGroups ? { unlinkGroups: 'true' as const } : {}),
        },
      },
    });
  }
  abortBackup(projectId: string, addonId: string, backupId: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/abort', {
      params: { path: { projectId, addonId, backupId } },
    });
  }
  credentials(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
      params: { path: { projectId, addonId } },
    });
  }
  operations(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/operations', {
      params: { path: { projectId, addonId }, query: { limit: 20 } },
    });
  }
  /** The last hour of a few series (the addon page's sparklines). */
  metrics(projectId: string, addonId: string, names: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/metrics', {
      params: { path: { projectId, addonId }, query: { names } },
    });
  }
  operation(projectId: string, operationId: string) {
    return this.client.GET('/v1/projects/{projectId}/operations/{operationId}', {
      params: { path: { projectId, operationId } },
    });
  }
  backups(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path: { projectId, addonId }, query: { limit: 100 } },
    });
  }
  createBackup(projectId: string, addonId: string, body: CreateBackupRequest) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path: { projectId, addonId } },
      body,
    });
  }
  pinBackup(projectId: string, addonId: string, backupId: string, pinned: boolean) {
    return this.client.PATCH('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
      params: { path: { projectId, addonId, backupId } },
      body: { pinned },
    });
  }
  deleteBackup(projectId: string, addonId: string, backupId: string) {
    return this.client.DELETE('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
      params: { path: { projectId, addonId, backupId } },
    });
  }
  downloadBackup(projectId: string, addonId: string, backupId: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/download', {
      params: { path: { projectId, addonId, backupId } },
    });
  }
  restoreBackup(projectId: string, addonId: string, backupId: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/restore', {
      params: { path: { projectId, addonId, backupId } },
    });
  }
  schedules(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
      params: { path: { projectId, addonId } },
    });
  }
  createSchedule(projectId: string, addonId: string, body: CreateScheduleRequest) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
      params: { path: { projectId, addonId } },
      body,
    });
  }
  updateSchedule(projectId: string, addonId: string, scheduleId: string, body: UpdateScheduleRequest) {
    return this.client.PATCH('/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}', {
      params: { path: { projectId, addonId, scheduleId } },
      body,
    });
  }
  deleteSchedule(projectId: string, addonId: string, scheduleId: string) {
    return this.client.DELETE('/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}', {
      params: { path: { projectId, addonId, scheduleId } },
    });
  }
  restoreToPointInTime(projectId: string, addonId: string, pointInTime: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/restore', {
      params: { path: { projectId, addonId } },
      body: { pointInTime },
    });
  }
  exportBackup(projectId: string, addonId: string, backupId: string, bucket: string, prefix?: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/export', {
      params: { path: { projectId, addonId, backupId } },
      body: { bucket, ...(prefix ? { prefix } : {}) },
    });
  }
  imports(projectId: string, addonId: string) {
    return this.client.GET('/v1/projects/{projectId}/addons/{addonId}/imports', {
      params: { path: { projectId, addonId }, query: { limit: 20 } },
    });
  }
  createImport(projectId: string, addonId: string, body: CreateImportRequest) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/imports', {
      params: { path: { projectId, addonId } },
      body,
    });
  }
  startImport(projectId: string, addonId: string, importId: string, sha256?: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/start', {
      params: { path: { projectId, addonId, importId } },
      body: sha256 ? { sha256 } : {},
    });
  }
  updateNetworking(projectId: string, addonId: string, networking: NetworkingRequest) {
    return this.client.PATCH('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: { projectId, addonId } },
      body: { networking },
    });
  }
  rotateCredentials(projectId: string, addonId: string, retireAfterSeconds: number) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/credentials/rotate', {
      params: { path: { projectId, addonId } },
      body: { retireAfterSeconds },
    });
  }
  finishRotation(projectId: string, addonId: string) {
    return this.client.POST('/v1/projects/{projectId}/addons/{addonId}/credentials/rotate/finish', {
      params: { path: { projectId, addonId } },
    });
  }
  events(projectId: string, query: EventsQuery) {
    return this.client.GET('/v1/projects/{projectId}/events', { params: { path: { projectId }, query } });
  }
  secretGroups(projectId: string, cursor?: string) {
    return this.client.GET('/v1/projects/{projectId}/secret-groups', {
      params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
    });
  }
  createSecretGroup(projectId: string, body: CreateSecretGroupRequest) {
    return this.client.POST('/v1/projects/{projectId}/secret-groups', {
      params: { path: { projectId } },
      body,
    });
  }
  updateSecretGroup(projectId: string, groupId: string, body: UpdateSecretGroupRequest) {
    return this.client.PATCH('/v1/projects/{projectId}/secret-groups/{groupId}', {
      params: { path: { projectId, groupId } },
      body,
    });
  }
  deleteSecretGroup(projectId: string, groupId: string) {
    return this.client.DELETE('/v1/projects/{projectId}/secret-groups/{groupId}', {
      params: { path: { projectId, groupId } },
    });
  }
  secretGroupDocument(projectId: string, groupId: string) {
    return this.client.GET('/v1/projects/{projectId}/secret-groups/{groupId}/document', {
      params: { path: { projectId, groupId } },
    });
  }
  externalServices(projectId: string, cursor?: string) {
    return this.client.GET('/v1/projects/{projectId}/external-services', {
      params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
    });
  }
  createExternalService(projectId: string, body: CreateExternalServiceRequest) {
    return this.client.POST('/v1/projects/{projectId}/external-services', {
      params: { path: { projectId } },
      body,
    });
  }
  deleteExternalService(projectId: string, externalServiceId: string, unlinkGroups: boolean) {
    return this.client.DELETE('/v1/projects/{projectId}/external-services/{externalServiceId}', {
      params: { path: { projectId, externalServiceId }, query: unlinkGroups ? { unlinkGroups: 'true' } : {} },
    });
  }
  alertRules(projectId: string, cursor?: string) {
    return this.client.GET('/v1/projects/{projectId}/alert-rules', {
      params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
    });
  }
  /** One rule with the state (ok, pending, firing) of each addon it evaluated. */
  alertRule(projectId: string, ruleId: string) {
    return this.client.GET('/v1/projects/{projectId}/alert-rules/{ruleId}', {
      params: { path: { projectId, ruleId } },
    });
  }
  createAlertRule(projectId: string, body: CreateAlertRuleRequest) {
    return this.client.POST('/v1/projects/{projectId}/alert-rules', {
      params: { path: { projectId } },
      body,
    });
  }
  updateAlertRule(projectId: string, ruleId: string, body: UpdateAlertRuleRequest) {
    return this.client.PATCH('/v1/projects/{projectId}/alert-rules/{ruleId}', {
      params: { path: { projectId, ruleId } },
      body,
    });
  }
  deleteAlertRule(projectId: string, ruleId: string) {
    return this.client.DELETE('/v1/projects/{projectId}/alert-rules/{ruleId}', {
      params: { path: { projectId, ruleId } },
    });
  }
  alertDeliveries(projectId: string, ruleId: string, cursor?: string) {
    return this.client.GET('/v1/projects/{projectId}/alert-rules/{ruleId}/deliveries', {
      params: { path: { projectId, ruleId }, query: { limit: 20, ...(cursor ? { cursor } : {}) } },
    });
  }
}
