import type { Engine, Target } from '../schemas/catalog.ts';
import { mongodbNotes } from './mongodb/notes.ts';
import { mysqlNotes } from './mysql/notes.ts';
import { postgresqlNotes } from './postgresql/notes.ts';
import { redisNotes } from './redis/notes.ts';

/**
 * Every engine's catalog notes, per target (`GET /v1/addon-types` `notes`, and the reasons the
 * API quotes in a 422). Apart from `ENGINE_FACTS` because they are long prose: a function that
 * only decides by the catalog's flags (the workflow tasks) does not carry them.
 */
export const ENGINE_NOTES: Record<Engine, Record<Target, string[]>> = {
  postgresql: postgresqlNotes,
  mysql: mysqlNotes,
  redis: redisNotes,
  mongodb: mongodbNotes,
};
