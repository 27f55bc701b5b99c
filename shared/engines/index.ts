import type { Engine } from '../schemas/catalog.ts';
import type { EngineFacts } from './engine-facts.ts';
import { mongodb } from './mongodb/index.ts';
import { mysql } from './mysql/index.ts';
import { postgresql } from './postgresql/index.ts';
import { redis } from './redis/index.ts';

/** Every engine's target-agnostic facts; adding an engine adds its folder and one line here. */
export const ENGINE_FACTS: Record<Engine, EngineFacts> = { postgresql, mysql, redis, mongodb };

export const engineFacts = (engine: Engine): EngineFacts => ENGINE_FACTS[engine];
