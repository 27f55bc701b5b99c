import { errorMessage } from '#shared/errors.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import type { Schedule } from '#shared/schemas/backup.ts';
import type { BackupService } from '#shared/services/backup-service.ts';
import type { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import type { ImportService } from '#shared/services/import-service.ts';
import type { Reconciler, ReconcileSummary } from '#shared/services/reconciler.ts';
import type { ScheduleService } from '#shared/services/schedule-service.ts';
import { nextRun, timingOf } from '#shared/services/schedule-timing.ts';
import type { SecretGroupPublisher } from '#shared/services/secret-group-publisher.ts';
import { storageEvent } from '#shared/services/storage-events.ts';
import type { EventStore } from '#shared/store/event-store.ts';

/** One alert pass: evaluation and delivery (infra/local/alerts.ts). */
export interface LocalAlertPass {
  run(): Promise<{
    changes: Array<{ ruleId: string; addonId: string; kind: string }>;
    errors: Array<Record<string, unknown>>;
    failed: string[];
  }>;
}

/**
 * One storage guard pass: full instances made read-only, freed ones writable (engines/storage-guard.ts),
 * each with the addon it serves where one does.
 */
export interface LocalStoragePass {
  run(): Promise<{
    changes: Array<{
      resourceId: string;
      readOnly: boolean;
      usedBytes: number;
      allocatedBytes: number;
      addon?: { projectId: string; id: string };
    }>;
    errors: Array<{ resourceId: string; error: string }>;
  }>;
}

export interface LocalSchedulerProps {
  now: () => Date;
  tickMs: number;
  log: (message: string, extra?: Record<string, unknown>) => void;
  /** What the reconciler repaired: something was stuck or leaked, worth a warning. @default log */
  warn?: (message: string, extra?: Record<string, unknown>) => void;
}

/**
 * The local stand-in for EventBridge Scheduler: an in-process cron over the schedules in the
 * table, plus the retention sweep. A firing that finds an operation in flight is a recorded skip;
 * firings missed while the platform was down are not replayed (EventBridge would not either).
 */
export class LocalScheduler implements ScheduleRunner {
  private readonly entries = new Map<string, { schedule: Schedule; next: Date }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private backups: BackupService | undefined;
  private imports: Pick<ImportService, 'sweepExpired'> | undefined;
  private schedules: ScheduleService | undefined;
  private reconciler: Reconciler | undefined;
  private rotations: Pick<CredentialRotationService, 'sweep'> | undefined;
  private secretGroups: Pick<SecretGroupPublisher, 'sweep'> | undefined;
  private events: Pick<EventStore, 'sweepExpired' | 'append'> | undefined;
  private alerts: LocalAlertPass | undefined;
  private storage: LocalStoragePass | undefined;
  private nextEventSweep = 0;

  constructor(private readonly props: LocalSchedulerProps) {}

  async upsert(schedule: Schedule): Promise<void> {
    if (!schedule.enabled) {
      this.entries.delete(schedule.id);
      return;
    }
    this.entries.set(schedule.id, { schedule, next: nextRun(timingOf(schedule), this.props.now()) });
  }

  async remove(schedule: Pick<Schedule, 'id'>): Promise<void> {
    this.entries.delete(schedule.id);
  }

  /** Start firing, once the services that do the work exist (they need this runner themselves). */
  start(
    services: {
      backups: BackupService;
      schedules: ScheduleService;
      reconciler?: Reconciler;
      imports?: Pick<ImportService, 'sweepExpired'>;
      rotations?: Pick<CredentialRotationService, 'sweep'>;
      secretGroups?: Pick<SecretGroupPublisher, 'sweep'>;
      events?: Pick<EventStore, 'sweepExpired' | 'append'>;
      alerts?: LocalAlertPass;
      storage?: LocalStoragePass;
    },
    existing: Schedule[],
  ): void {
    this.events = services.events;
    this.alerts = services.alerts;
    this.storage = services.storage;
    this.backups = services.backups;
    this.imports = services.imports;
    this.schedules = services.schedules;
    this.reconciler = services.reconciler;
    this.rotations = services.rotations;
    this.secretGroups = services.secretGroups;
    for (const schedule of existing) void this.upsert(schedule);
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
      });
    }, this.props.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
  }

  private async tick(): Promise<void> {
    const now = this.props.now();
    for (const entry of [...this.entries.values()]) {
      if (entry.next > now) continue;
      const due = entry.next;
      entry.next = nextRun(timingOf(entry.schedule), now);
      await this.fire(entry.schedule, due);
    }
    try {
      const swept = await this.backups?.sweepExpired();
      if (swept?.deleted.length)
        this.props.log('retention deleted expired backups', { backups: swept.deleted });
      for (const failure of swept?.failed ?? [])
        this.props.log('retention could not delete a backup', failure);
    } catch (error) {
      this.props.log('retention sweep failed', { error: errorMessage(error) });
    }
    await this.sweepImports();
    await this.sweepRotations();
    await this.sweepSecretGroups();
    await this.reconcile();
    await this.guardStorage();
    await this.evaluateAlerts();
    await this.sweepEvents();
  }

  /**
   * Full addons read-only, freed ones writable again (docs/scaling.md); each change is a warning
   * and a `storage.full` / `storage.writable` event in the addon's feed (docs/events.md).
   */
  private async guardStorage(): Promise<void> {
    if (!this.storage) return;
    const warn = this.props.warn ?? this.props.log;
    try {
      const pass = await this.storage.run();
      for (const { addon, ...change } of pass.changes) {
        warn(change.readOnly ? 'storage full: addon read-only' : 'storage freed: addon writable again', {
          ...change,
        });
        if (addon) await this.events?.append(storageEvent(addon, change, new Date()));
      }
      for (const error of pass.errors) this.props.log('storage not checked', error);
    } catch (error) {
      this.props.log('storage check failed', { error: errorMessage(error) });
    }
  }

  /** Alert rules on the sampled series, then the webhooks due (docs/alerts.md). */
  private async evaluateAlerts(): Promise<void> {
    if (!this.alerts) return;
    try {
      const pass = await this.alerts.run();
      for (const change of pass.changes) this.props.log(`alert ${change.kind}`, { ...change });
      for (const error of pass.errors) this.props.log('alert rule not evaluated', error);
      if (pass.failed.length > 0) this.props.log('alert deliveries gave up', { deliveries: pass.failed });
    } catch (error) {
      this.props.log('alert evaluation failed', { error: errorMessage(error) });
    }
  }

  /**
   * dynalite has no TTL: expired events are deleted here, at most every ten minutes (a table
   * scan). Event times are wall-clock times, so this runs on the wall clock, not the schedule's.
   */
  private async sweepEvents(): Promise<void> {
    const now = new Date();
    if (!this.events || now.getTime() < this.nextEventSweep) return;
    this.nextEventSweep = now.getTime() + EVENT_SWEEP_EVERY_MS;
    try {
      const deleted = await this.events.sweepExpired(now);
      if (deleted > 0) this.props.log('expired events deleted', { events: deleted });
    } catch (error) {
      this.props.log('event expiry sweep failed', { error: errorMessage(error) });
    }
  }

  /** Secret groups whose document is stale against their sources (a missed hook, a crash) are published. */
  private async sweepSecretGroups(): Promise<void> {
    try {
      const swept = await this.secretGroups?.sweep();
      if (swept?.published.length)
        this.props.log('stale secret groups published again', { groups: swept.published });
      if (swept?.deleted.length)
        this.props.log('interrupted secret group deletes finished', { groups: swept.deleted });
      for (const failure of swept?.failed ?? []) this.props.log('could not publish a secret group', failure);
    } catch (error) {
      this.props.log('secret group sweep failed', { error: errorMessage(error) });
    }
  }

  /** Credential rotations past their deadline: the previous credentials are retired. */
  private async sweepRotations(): Promise<void> {
    try {
      const finished = await this.rotations?.sweep();
      if (finished?.length)
        this.props.log('credential rotations finished at their deadline', { addons: finished });
    } catch (error) {
      this.props.log('credential rotation sweep failed', { error: errorMessage(error) });
    }
  }

  /** Imports past their expiry go with their uploaded files (import-service.ts). */
  private async sweepImports(): Promise<void> {
    try {
      const swept = await this.imports?.sweepExpired();
      if (swept?.deleted.length) this.props.log('expired imports deleted', { imports: swept.deleted });
      for (const failure of swept?.failed ?? [])
        this.props.log('could not delete an expired import', failure);
    } catch (error) {
      this.props.log('import expiry sweep failed', { error: errorMessage(error) });
    }
  }

  /** The local reconciler runs on every tick: locally its reads are a directory listing and a table scan. */
  private async reconcile(): Promise<void> {
    if (!this.reconciler) return;
    try {
      const summary = await this.reconciler.run({ leftovers: true });
      if (didSomething(summary)) (this.props.warn ?? this.props.log)('reconciler', { ...summary });
    } catch (error) {
      (this.props.warn ?? this.props.log)('reconciler failed', { error: errorMessage(error) });
    }
  }

  /** `at` is when the firing was due: the backup id derives from it, so a firing makes one backup. */
  private async fire(schedule: Schedule, at: Date): Promise<void> {
    if (!this.backups || !this.schedules) return;
    try {
      const run = await this.backups.runScheduled(schedule, at);
      if (run.outcome === 'duplicate') return;
      await this.schedules.recordRun(schedule, run, at);
    } catch (error) {
      if ((error as Error).name === 'NotFoundError') {
        // The addon is gone: its schedules go with it.
        this.entries.delete(schedule.id);
        return;
      }
      this.props.log('scheduled backup failed to start', {
        scheduleId: schedule.id,
        error: errorMessage(error),
      });
      await this.schedules
        .recordRun(schedule, { outcome: 'failed-to-start', reason: errorMessage(error) }, at)
        .catch(() => undefined);
    }
  }
}

const EVENT_SWEEP_EVERY_MS = 10 * 60_000;

const didSomething = (summary: ReconcileSummary): boolean =>
  summary.operations.failed.length +
    summary.events.republished.length +
    summary.events.backupHealth.length +
    summary.operations.restarted.length +
    summary.locks.released.length +
    summary.leftovers.removed.length +
    summary.leftovers.kept.length +
    summary.leftovers.failed.length +
    summary.errors.length >
  0;
