import { createHmac } from 'node:crypto';
import { ProviderError } from '#shared/errors.ts';

/**
 * Alternating users, for engines whose users hold one password (credential rotation, see
 * EngineProvider.addLogin): the customer's user and its second user take turns being the
 * published login. The second user's name fits every engine's limit (and the connection details'
 * 63 characters) whatever the customer's user is called.
 */
export const alternateOf = (username: string): string => `${username.slice(0, 61)}_2`;

/** The other login of the pair `username` belongs to; refuses a user that is neither. */
export const otherLogin = (owner: string, username: string): string => {
  if (username === owner) return alternateOf(owner);
  if (username === alternateOf(owner)) return owner;
  throw new ProviderError(`'${username}' is not a login of the customer's user '${owner}'`, 'UnknownLogin');
};

/** The user replicas of an instance log in to their primary as (engines whose replicas need one). */
export const REPLICATION_USER = 'addons_replication';

/**
 * The replication user's password: derived from the platform's own password of the instance
 * (instance.json, the platform's alone), so nothing new is stored and only the platform knows it.
 */
export const replicationPassword = (admin: { password: string }): string =>
  createHmac('sha256', admin.password).update('addons replication').digest('hex');
