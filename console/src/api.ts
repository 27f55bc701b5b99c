import type {
  Addon,
  AddonType,
  Backup,
  BackupSchedule,
  CreateAddonRequest,
  CreateBackupRequest,
  CreateScheduleRequest,
  Credentials,
  Operation,
  Page,
  Problem,
  UpdateScheduleRequest,
} from './types.ts';

/** A problem+json answer (or a network failure dressed as one), for the page to show. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
  }
}

export const TERMINAL = new Set(['completed', 'failed', 'aborted']);

/**
 * The console's calls, one method per route it uses. `onUnauthorized` runs on a 401 so an
 * expired token sends the user back to the sign-in page.
 */
export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiProblem({
        type: 'about:blank',
        title: 'The API cannot be reached',
        status: 503,
        detail: error instanceof Error ? error.message : String(error),
      });
    }
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) {
      const problem = (await response.json().catch(() => undefined)) as Problem | undefined;
      throw new ApiProblem(
        problem?.title
          ? problem
          : { type: 'about:blank', title: response.statusText, status: response.status },
      );
    }
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  private addon(projectId: string, addonId: string) {
    return `/v1/projects/${encodeURIComponent(projectId)}/addons/${encodeURIComponent(addonId)}`;
  }

  addonTypes() {
    return this.call<{ items: AddonType[] }>('GET', '/v1/addon-types');
  }
  listAddons(projectId: string, cursor?: string) {
    const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    return this.call<Page<Addon>>('GET', `/v1/projects/${encodeURIComponent(projectId)}/addons?${query}`);
  }
  createAddon(projectId: string, body: CreateAddonRequest) {
    return this.call<{ addon: Addon; operation: Operation }>(
      'POST',
      `/v1/projects/${encodeURIComponent(projectId)}/addons`,
      body,
    );
  }
  getAddon(projectId: string, addonId: string) {
    return this.call<Addon>('GET', this.addon(projectId, addonId));
  }
  deleteAddon(projectId: string, addonId: string) {
    return this.call<{ addon: Addon; operation: Operation }>('DELETE', this.addon(projectId, addonId));
  }
  credentials(projectId: string, addonId: string) {
    return this.call<Credentials>('GET', `${this.addon(projectId, addonId)}/credentials`);
  }
  operations(projectId: string, addonId: string) {
    return this.call<Page<Operation>>('GET', `${this.addon(projectId, addonId)}/operations?limit=20`);
  }
  operation(projectId: string, operationId: string) {
    return this.call<Operation>(
      'GET',
      `/v1/projects/${encodeURIComponent(projectId)}/operations/${encodeURIComponent(operationId)}`,
    );
  }
  backups(projectId: string, addonId: string) {
    return this.call<Page<Backup>>('GET', `${this.addon(projectId, addonId)}/backups?limit=100`);
  }
  createBackup(projectId: string, addonId: string, body: CreateBackupRequest) {
    return this.call<{ backup: Backup; operation: Operation }>(
      'POST',
      `${this.addon(projectId, addonId)}/backups`,
      body,
    );
  }
  pinBackup(projectId: string, addonId: string, backupId: string, pinned: boolean) {
    return this.call<Backup>(
      'PATCH',
      `${this.addon(projectId, addonId)}/backups/${encodeURIComponent(backupId)}`,
      {
        pinned,
      },
    );
  }
  deleteBackup(projectId: string, addonId: string, backupId: string) {
    return this.call<void>(
      'DELETE',
      `${this.addon(projectId, addonId)}/backups/${encodeURIComponent(backupId)}`,
    );
  }
  downloadBackup(projectId: string, addonId: string, backupId: string) {
    return this.call<{ url: string; expiresAt: string }>(
      'POST',
      `${this.addon(projectId, addonId)}/backups/${encodeURIComponent(backupId)}/download`,
    );
  }
  restoreBackup(projectId: string, addonId: string, backupId: string) {
    return this.call<{ backup: Backup; operation: Operation }>(
      'POST',
      `${this.addon(projectId, addonId)}/backups/${encodeURIComponent(backupId)}/restore`,
    );
  }
  schedules(projectId: string, addonId: string) {
    return this.call<{ items: BackupSchedule[] }>(
      'GET',
      `${this.addon(projectId, addonId)}/backup-schedules`,
    );
  }
  createSchedule(projectId: string, addonId: string, body: CreateScheduleRequest) {
    return this.call<BackupSchedule>('POST', `${this.addon(projectId, addonId)}/backup-schedules`, body);
  }
  updateSchedule(projectId: string, addonId: string, scheduleId: string, body: UpdateScheduleRequest) {
    return this.call<BackupSchedule>(
      'PATCH',
      `${this.addon(projectId, addonId)}/backup-schedules/${encodeURIComponent(scheduleId)}`,
      body,
    );
  }
  deleteSchedule(projectId: string, addonId: string, scheduleId: string) {
    return this.call<void>(
      'DELETE',
      `${this.addon(projectId, addonId)}/backup-schedules/${encodeURIComponent(scheduleId)}`,
    );
  }
}
