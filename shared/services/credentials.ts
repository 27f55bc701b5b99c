import { randomInt } from 'node:crypto';
import { engineFacts } from '../engines/index.ts';
import type { ConnectionSecret } from '../ports/secret-store.ts';
import type { Engine } from '../schemas/catalog.ts';

// RDS master passwords may not contain / @ " or spaces; letters and digits are safe in URIs too.
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

export const generatePassword = (length = 32): string => {
  let password = '';
  for (let i = 0; i < length; i++) password += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return password;
};

/** RDS DBName: letters, digits and underscores, starting with a letter, at most 63. */
export const databaseNameFor = (addonName: string): string => addonName.replace(/-/g, '_').slice(0, 63);

/** The database the connection details of an addon of `engine` named `addonName` name. */
export const databaseOf = (engine: Engine, addonName: string): string =>
  engineFacts(engine).databaseFor?.(addonName) ?? databaseNameFor(addonName);

/** RDS MasterUsername: 1 to 16 letters or digits, starting with a letter; not a reserved word. */
export const ADMIN_USERNAME = 'addonadmin';

/** The user the connection details of an addon of `engine` with id `addonId` name. */
export const usernameOf = (engine: Engine, addonId: string): string =>
  engineFacts(engine).usernameFor?.(addonId) ?? ADMIN_USERNAME;

/** The URI in the connection details, in the shape of the addon's engine. */
export const connectionUri = (secret: Omit<ConnectionSecret, 'uri'>): string =>
  engineFacts(secret.engine).connectionUri(secret);

/** Connection details whose user or password changed: both URIs follow (rotation, restores). */
const hostOf = ({ host, port }: { host: string; port: number }) => ({ host, port });

export const withFreshUris = (secret: Omit<ConnectionSecret, 'uri'>): ConnectionSecret => {
  const { public: endpoint, replicas, ...rest } = secret;
  return {
    ...rest,
    uri: connectionUri(rest),
    ...(replicas
      ? {
          replicas: replicas.map((replica) => ({
            ...replica,
            uri: connectionUri({ ...rest, ...hostOf(replica) }),
          })),
        }
      : {}),
    ...(endpoint
      ? { public: { ...endpoint, uri: connectionUri({ ...rest, host: endpoint.host, port: endpoint.port }) } }
      : {}),
  };
};
