import type { TargetOffer } from '#shared/catalog/engines.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { EngineDriver, SnapshotDriver } from './driver.ts';
import { MongodDriver } from './mongodb/driver.ts';
import { MariaDbDriver } from './mysql/driver.ts';
import { PostgresDriver } from './postgresql/driver.ts';
import type { WalArchiveTarget } from './postgresql/wal-archive.ts';
import { RedisDriver } from './redis/driver.ts';

/** `a`, `a and b`, `a, b and c`. */
const listed = (names: readonly string[]): string =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? 'no');

/** The engines the local target runs, by engine name: one folder and one line each. */
export class EngineDrivers {
  private readonly registry: EngineRegistry<EngineDriver>;

  /** `walArchive`: where PostgreSQL archives its WAL for point-in-time restores (none: not archived). */
  constructor(options: { walArchive?: WalArchiveTarget } = {}) {
    this.registry = new EngineRegistry<EngineDriver>('local engine driver', {
      postgresql: () => new PostgresDriver(options.walArchive),
      mysql: () => new MariaDbDriver(),
      redis: () => new RedisDriver(),
      mongodb: () => new MongodDriver(),
    });
  }

  /** The drivers that do point-in-time recovery here. */
  withPitr(): EngineDriver[] {
    return this.registry
      .engines()
      .map((engine) => this.registry.of(engine))
      .filter((driver) => driver.pitr !== undefined);
  }

  /** What this machine offers of each engine whose drivers decide it (`EngineDriver.catalogOffer`). */
  async catalogOffers(): Promise<Array<[Engine, TargetOffer]>> {
    const offers: Array<[Engine, TargetOffer]> = [];
    for (const engine of this.registry.engines()) {
      const driver = this.registry.of(engine);
      if (driver.catalogOffer) offers.push([engine, await driver.catalogOffer()]);
    }
    return offers;
  }

  /** The driver of `engine`, or undefined for one the local target does not run. */
  find(engine: Engine): EngineDriver | undefined {
    return this.registry.has(engine) ? this.registry.of(engine) : undefined;
  }

  driverFor(engine: Engine): EngineDriver {
    const driver = this.find(engine);
    if (!driver) {
      throw new UnsupportedError(
        `Engine '${engine}' cannot be provisioned on the local target, which runs ${listed(this.registry.engines())} addons`,
        [{ path: 'engine', message: `'${engine}' is not provisioned locally` }],
      );
    }
    return driver;
  }

  snapshotsOf(engine: Engine): SnapshotDriver {
    const snapshots = this.find(engine)?.snapshots;
    if (!snapshots) {
      throw new UnsupportedError(`Snapshots of ${engine} instances are not available on the local target`, [
        { path: 'type', message: `'${engine}' has no snapshots locally` },
      ]);
    }
    return snapshots;
  }
}
