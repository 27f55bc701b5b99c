import { UnsupportedError } from '../errors.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { DumpTool } from './dump-tool.ts';

/**
 * The dump tool of each engine that has logical dumps. Factories are lazy so that a job only
 * loads the modules (and client libraries) of the engine it works on.
 */
const FACTORIES: Partial<Record<Engine, () => DumpTool>> = {};

/** The engine's dump tool; an engine without one is an UnsupportedError naming it. */
export const dumpToolFor = (engine: Engine): DumpTool => {
  const factory = FACTORIES[engine];
  if (!factory) {
    throw new UnsupportedError(`Dump and restore jobs are not available for the ${engine} engine`);
  }
  return factory();
};
