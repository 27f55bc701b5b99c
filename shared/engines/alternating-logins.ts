import { ProviderError } from '../errors.ts';

/**
 * Alternating users, for engines whose users hold one password (credential rotation, see
 * EngineProvider.addLogin): the customer's user and its second user take turns being the
 * published login. The second user's name fits every engine's limit (and the connection details'
 * 63 characters) whatever the customer's user is called. One definition for the local drivers and
 * the AWS login job.
 */
export const alternateOf = (username: string): string => `${username.slice(0, 61)}_2`;

/** The other login of the pair `username` belongs to; refuses a user that is neither. */
export const otherLogin = (owner: string, username: string): string => {
  if (username === owner) return alternateOf(owner);
  if (username === alternateOf(owner)) return owner;
  throw new ProviderError(`'${username}' is not a login of the customer's user '${owner}'`, 'UnknownLogin');
};
