import { UnsupportedError } from '../errors.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { DumpTool } from './dump-tool.ts';
import { MysqlDumpTool } from './mysql/dump-tool.ts';
import { PostgresDumpTool } from './postgresql/dump-tool.ts';

/**
 * The dump tool of each engine that has logical dumps. Factories run when a job asks, so a tool
 * reads its environment (its own client tool locations) when it is used, not at import.
 */
const FACTORIES: Partial<Record<Engine, () => DumpTool>> = {
  postgresql: () => new PostgresDumpTool(),
  mysql: () => new MysqlDumpTool(),
};

/** The engine's dump tool; an engine without one is an UnsupportedError naming it. */
export const dumpToolFor = (engine: Engine): DumpTool => {
  const factory = FACTORIES[engine];
  if (!factory) {
    throw new UnsupportedError(`Dump and restore jobs are not available for the ${engine} engine`, [
      { path: 'engine', message: `'${engine}' has no dump tool` },
    ]);
  }
  return factory();
};
