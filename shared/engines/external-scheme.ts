import type { Engine } from '../schemas/catalog.ts';

/** What a connection string of one URI scheme names, and what it must carry (external services). */
export interface ExternalSchemeSpec {
  engine: Engine;
  defaultPort: number;
  /** A user name, password or database the string must carry. */
  requires: { username: boolean; password: boolean; database: boolean };
  /** What the details name when the string leaves them out. */
  defaults: { username: string; database: string };
  tls: boolean;
}
