import { EngineRegistry } from '../engines/registry.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import { PostgresLoginTool } from './postgresql/login-job.ts';

/**
 * The login job (credential rotation where the engine's logins change by SQL inside the instance,
 * which the workflow functions cannot reach: RDS). It runs the same alternating-user statements as
 * the local drivers, as the platform's own admin login of the instance. Every password comes from
 * the secret store by reference: the published connection details (AWSCURRENT), the staged ones
 * (AWSPENDING, named after the rotation's operation) and the platform's admin login.
 */
export interface LoginJobInput {
  /** add: let `next` in besides `published`; retain: leave `published` as the only login. */
  action: 'add' | 'retain';
  /** The customer's own user (the first of the alternating pair). */
  owner: string;
  /** The published connection details: the endpoint, and the login that keeps working throughout. */
  published: Credentials;
  /** The staged credentials to let in (add only). */
  next?: Credentials;
  /** The platform's admin login of the instance (its user and password). */
  admin: { username: string; password: string };
  /**
   * The master user (`owner`) was just given the published password (after a physical copy,
   * whose logins are of another time): make the admin role on that login, not on the published one.
   */
  masterReset?: boolean;
}

export interface LoginTool {
  run(input: LoginJobInput): Promise<{ username: string; adminCreated: boolean }>;
}

const LOGIN_TOOLS = new EngineRegistry<LoginTool>('login job', {
  postgresql: () => new PostgresLoginTool(),
});

/** The engine's login tool; an engine without one is an UnsupportedError naming it. */
export const loginToolFor = (engine: Engine): LoginTool => LOGIN_TOOLS.of(engine);
