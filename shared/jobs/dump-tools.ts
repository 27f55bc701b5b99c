import { EngineRegistry } from '../engines/registry.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { DumpTool } from './dump-tool.ts';
import { MongoDumpTool } from './mongodb/dump-tool.ts';
import { MysqlDumpTool } from './mysql/dump-tool.ts';
import { PostgresDumpTool } from './postgresql/dump-tool.ts';

/**
 * The dump tool of each engine that has logical dumps: one folder and one line each. A job
 * process runs one job, so a tool is built (and reads its environment: its client tool
 * locations, its TLS settings) when the job asks for it.
 */
const DUMP_TOOLS = new EngineRegistry<DumpTool>('dump tool', {
  postgresql: () => new PostgresDumpTool(),
  mysql: () => new MysqlDumpTool(),
  mongodb: () => new MongoDumpTool(),
});

/** The engine's dump tool; an engine without one is an UnsupportedError naming it. */
export const dumpToolFor = (engine: Engine): DumpTool => DUMP_TOOLS.of(engine);
