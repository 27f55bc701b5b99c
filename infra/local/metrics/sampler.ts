import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '#shared/errors.ts';
import { type MetricName, metricDefinition, metricsOfEngine } from '#shared/metrics/catalog.ts';
import type { MetricsSource, MetricsTarget, MetricsWindow } from '#shared/ports/metrics-source.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { InstanceContext } from '../engines/driver.ts';
import { mongodbMetrics } from '../engines/mongodb/metrics.ts';
import { mysqlMetrics } from '../engines/mysql/metrics.ts';
import { postgresMetrics } from '../engines/postgresql/metrics.ts';
import { redisMetrics } from '../engines/redis/metrics.ts';
import { RateTracker } from './counters.ts';
import type { EngineMetricsReader, Readings } from './engine-reader.ts';
import {
  CLOCK_TICKS_PER_SECOND,
  directoryBytes,
  freeBytes,
  sampleProcessTree,
  sumByKind,
} from './process-stats.ts';
import { RingFile } from './ring.ts';

export const ENGINE_READERS: Record<Engine, EngineMetricsReader> = {
  postgresql: postgresMetrics,
  mysql: mysqlMetrics,
  redis: redisMetrics,
  mongodb: mongodbMetrics,
};

/** What the local sampler cannot see: the host's free memory is the machine's, not the addon's. */
const NOT_SAMPLED_LOCALLY: Partial<Record<MetricName, string>> = {
  'memory.free': 'the local target runs every addon on one machine: there is no per-addon memory to be free',
};

/** The fields a ring of `engine` keeps: its catalog series that are sampled locally. */
export const localFields = (engine: Engine): MetricName[] =>
  metricsOfEngine(engine).filter((name) => NOT_SAMPLED_LOCALLY[name] === undefined);

export const DEFAULT_RETENTION_SECONDS = 86_400;
/** A ring never has more slots than this (a 1 s interval keeps 6 hours, not 24). */
export const MAX_SLOTS = 21_600;
/** Data directory sizes are walked at most this often (a walk touches every file). */
const DIRECTORY_SIZE_EVERY_SECONDS = 60;
const CONCURRENCY = 4;

export interface SamplerTarget {
  ctx: InstanceContext;
  pid: number;
}

export interface LocalMetricsSamplerProps {
  /** Where ring files live: `${dataDir}/metrics`. */
  dir: string;
  intervalSeconds: number;
  retentionSeconds?: number;
  /** Servers up now (LocalEngineSupervisor.servingInstances). */
  targets: () => SamplerTarget[];
  /** Whether an instance still exists (its ring file is removed when not). */
  instanceExists: (resourceId: string) => Promise<boolean>;
  readers?: Record<Engine, EngineMetricsReader>;
  /** The running replicas of an addon (LocalReplicas.runningReplicas), for engines that read lag there. */
  replicasOf?: (primary: InstanceContext) => Promise<InstanceContext[]>;
  log?: (message: string, extra?: object) => void;
  /** Epoch milliseconds. */
  now?: () => number;
}

/**
 * The local metrics sampler: every `intervalSeconds`, for each running addon, one engine query
 * as the platform's own user and a few /proc reads, all asynchronous (the gateway's event loop
 * only runs the parsing); the next round is scheduled when this one ends, so rounds never pile
 * up. Counters become rates here; each addon's ring keeps `retentionSeconds` in a fixed-size
 * buffer mirrored in a fixed-size file (ring.ts).
 */
export class LocalMetricsSampler implements MetricsSource {
  readonly stepMultiple = 1;
  private readonly rings = new Map<string, Promise<RingFile>>();
  private readonly rates = new RateTracker();
  private readonly directorySizes = new Map<string, { time: number; bytes: number }>();
  private readonly readers: Record<Engine, EngineMetricsReader>;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private rounds = 0;
  private stopped = false;
  readonly capacity: number;

  constructor(private readonly props: LocalMetricsSamplerProps) {
    this.readers = props.readers ?? ENGINE_READERS;
    this.now = props.now ?? Date.now;
    const retention = props.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.capacity = Math.min(MAX_SLOTS, Math.ceil(retention / props.intervalSeconds) + 1);
  }

  unavailable(_engine: Engine, name: MetricName): string | undefined {
    return NOT_SAMPLED_LOCALLY[name];
  }

  async query(
    target: MetricsTarget,
    names: readonly MetricName[],
    window: MetricsWindow,
  ): Promise<Map<MetricName, (number | null)[]>> {
    const ring = await this.ringOf(target.resourceId, target.engine);
    return ring.ring.query(names, window, (name) => metricDefinition(name).aggregate);
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      this.round = this.sampleOnce().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.props.intervalSeconds * 1000);
      });
    };
    this.timer = setTimeout(loop, this.props.intervalSeconds * 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round?.catch(() => undefined);
    const rings = [...this.rings.values()];
    this.rings.clear();
    await Promise.all(rings.map(async (ring) => (await ring.catch(() => undefined))?.close()));
  }

  /** One round over every running addon; never rejects (a failed addon is logged and skipped). */
  async sampleOnce(): Promise<void> {
    this.rounds += 1;
    const queue = [...this.props.targets()];
    const worker = async () => {
      for (let target = queue.shift(); target !== undefined; target = queue.shift()) {
        const current = target;
        await this.sampleTarget(current).catch((error: unknown) => {
          this.props.log?.('metrics: could not sample an addon', {
            resourceId: current.ctx.resourceId,
            error: errorMessage(error),
          });
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
    // Once an hour of rounds (and on the first), forget addons that are gone.
    if ((this.rounds - 1) % Math.max(1, Math.round(3_600 / this.props.intervalSeconds)) === 0) {
      await this.sweep().catch((error: unknown) => {
        this.props.log?.('metrics: could not sweep ring files', { error: errorMessage(error) });
      });
    }
  }

  /** Samples one server and appends to its ring. */
  async sampleTarget({ ctx, pid }: SamplerTarget): Promise<void> {
    const engine = ctx.record.engine;
    const reader = this.readers[engine];
    const nowMs = this.now();
    const time = Math.floor(nowMs / 1000);
    const [engineSample, replicaReadings, processes, storageUsed, storageFree] = await Promise.all([
      reader.read(ctx).catch((error: unknown) => {
        this.props.log?.('metrics: the engine did not answer', {
          resourceId: ctx.resourceId,
          error: errorMessage(error),
        });
        return undefined;
      }),
      this.readReplicas(reader, ctx),
      sampleProcessTree(pid),
      this.directorySize(ctx.resourceId, ctx.dataDir, time),
      freeBytes(ctx.dataDir),
    ]);
    const seconds = nowMs / 1000;
    const processRates = sumByKind(
      this.rates.rates(`${ctx.resourceId}/process`, seconds, processes.counters),
    );
    const engineRates = engineSample
      ? this.rates.rates(`${ctx.resourceId}/engine`, seconds, engineSample.counters)
      : {};
    const readings: Readings = {
      ...(processRates.cpu === undefined ? {} : { cpu: (processRates.cpu * 100) / CLOCK_TICKS_PER_SECOND }),
      ...(processes.memoryBytes === undefined ? {} : { memory: processes.memoryBytes }),
      ...(processRates.read === undefined ? {} : { 'read.throughput': processRates.read }),
      ...(processRates.write === undefined ? {} : { 'write.throughput': processRates.write }),
      ...(storageUsed === undefined ? {} : { 'storage.used': storageUsed }),
      ...(storageFree === undefined ? {} : { 'storage.free': storageFree }),
      ...engineSample?.gauges,
      ...replicaReadings,
      ...reader.fromRates(engineRates),
    };
    const ring = await this.ringOf(ctx.resourceId, engine);
    await ring.append(time, readings);
  }

  /**
   * What the engine reads on the replicas (the lag, where the replica knows it rather than the
   * primary), the largest value of each series: the slowest replica is what a reader of the
   * replica URI may meet. A replica that does not answer is logged and left out.
   */
  private async readReplicas(reader: EngineMetricsReader, ctx: InstanceContext): Promise<Readings> {
    const readReplica = reader.readReplica;
    if (!readReplica || !this.props.replicasOf) return {};
    const replicas = await this.props.replicasOf(ctx).catch(() => [] as InstanceContext[]);
    const readings = await Promise.all(
      replicas.map((replica) =>
        readReplica(replica).catch((error: unknown) => {
          this.props.log?.('metrics: a replica did not answer', {
            resourceId: replica.resourceId,
            error: errorMessage(error),
          });
          return {} as Readings;
        }),
      ),
    );
    const merged: Readings = {};
    for (const reading of readings) {
      for (const [name, value] of Object.entries(reading) as Array<[keyof Readings, number]>) {
        merged[name] = Math.max(merged[name] ?? value, value);
      }
    }
    return merged;
  }

  private async directorySize(
    resourceId: string,
    dataDir: string,
    time: number,
  ): Promise<number | undefined> {
    const last = this.directorySizes.get(resourceId);
    if (last && time - last.time < DIRECTORY_SIZE_EVERY_SECONDS) return last.bytes;
    const bytes = await directoryBytes(dataDir);
    this.directorySizes.set(resourceId, { time, bytes });
    return bytes;
  }

  /** The ring of an addon, opened (and loaded from its file) on first use. */
  ringOf(resourceId: string, engine: Engine): Promise<RingFile> {
    let ring = this.rings.get(resourceId);
    if (!ring) {
      ring = mkdir(this.props.dir, { recursive: true, mode: 0o700 }).then(() =>
        RingFile.open(path.join(this.props.dir, `${resourceId}.ring`), localFields(engine), this.capacity),
      );
      ring.catch(() => this.rings.delete(resourceId));
      this.rings.set(resourceId, ring);
    }
    return ring;
  }

  /** Removes rings (memory and file) of instances that no longer exist. */
  private async sweep(): Promise<void> {
    const files = await readdir(this.props.dir).catch(() => [] as string[]);
    for (const file of files.filter((name) => name.endsWith('.ring'))) {
      const resourceId = file.slice(0, -'.ring'.length);
      if (await this.props.instanceExists(resourceId)) continue;
      const ring = this.rings.get(resourceId);
      this.rings.delete(resourceId);
      await (await ring?.catch(() => undefined))?.close();
      for (const key of [`${resourceId}/process`, `${resourceId}/engine`]) this.rates.forget(key);
      this.directorySizes.delete(resourceId);
      await rm(path.join(this.props.dir, file), { force: true });
    }
  }
}
