import { UnsupportedError } from '#shared/errors.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { EngineDriver, SnapshotDriver } from './driver.ts';
import { PostgresDriver } from './postgresql/driver.ts';

/** The engines the local target runs, by engine name. */
export class EngineDrivers {
  private readonly drivers = new Map<Engine, EngineDriver>([['postgresql', new PostgresDriver()]]);

  /** The driver of `engine`, or undefined for one the local target does not run. */
  find(engine: Engine): EngineDriver | undefined {
    return this.drivers.get(engine);
  }

  driverFor(engine: Engine): EngineDriver {
    const driver = this.drivers.get(engine);
    if (!driver) {
      throw new UnsupportedError(
        `Engine '${engine}' cannot be provisioned on the local target yet: only PostgreSQL runs locally for now`,
        [{ path: 'engine', message: `'${engine}' is not provisioned locally` }],
      );
    }
    return driver;
  }

  snapshotsOf(engine: Engine): SnapshotDriver {
    const snapshots = this.drivers.get(engine)?.snapshots;
    if (!snapshots) {
      throw new UnsupportedError(`Snapshots of ${engine} instances are not available on the local target`, [
        { path: 'type', message: `'${engine}' has no snapshots locally` },
      ]);
    }
    return snapshots;
  }
}
