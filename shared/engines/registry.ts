import { UnsupportedError } from '../errors.ts';
import type { Engine } from '../schemas/catalog.ts';
import { ENGINE_NAMES } from '../schemas/catalog.ts';

/** How a composition root builds one engine's adapters; absent for an engine it does not run. */
export type EngineFactories<T> = { readonly [E in Engine]?: () => T };

/**
 * The adapters of each engine, keyed by engine (architecture decision 10). Each composition root
 * (a Lambda handler, the local platform, the job process) builds one from typed factories, and
 * services ask it for the adapters of the addon's own engine instead of branching on its name.
 * Factories run on first use, so a function never builds the clients of engines it is not asked
 * about; the result is kept.
 */
export class EngineRegistry<T> {
  private readonly built = new Map<Engine, T>();

  /** `what` names the adapters in errors: "provisioning", "snapshots", "dump tool"... */
  constructor(
    private readonly what: string,
    private readonly factories: EngineFactories<T>,
  ) {}

  /** The same adapter for every engine: one that itself dispatches by engine (the local supervisor). */
  static everyEngine<T>(what: string, factory: () => T): EngineRegistry<T> {
    return new EngineRegistry<T>(what, Object.fromEntries(ENGINE_NAMES.map((engine) => [engine, factory])));
  }

  has(engine: Engine): boolean {
    return this.factories[engine] !== undefined;
  }

  /** The engines this registry has adapters for, in catalog order. */
  engines(): Engine[] {
    return ENGINE_NAMES.filter((engine) => this.has(engine));
  }

  /** The adapters of `engine`; an UnsupportedError naming it when this deployment has none. */
  of(engine: Engine): T {
    const existing = this.built.get(engine);
    if (existing) return existing;
    const factory = this.factories[engine];
    if (!factory) {
      throw new UnsupportedError(`This deployment has no ${this.what} for ${engine} addons`, [
        { path: 'engine', message: `'${engine}' has no ${this.what} here` },
      ]);
    }
    const adapters = factory();
    this.built.set(engine, adapters);
    return adapters;
  }
}
