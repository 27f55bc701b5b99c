import { MYSQL_LIVE_SOURCE } from '../engines/mysql/live-source-uri.ts';
import { POSTGRESQL_LIVE_SOURCE } from '../engines/postgresql/live-source-uri.ts';
import { UnsupportedError } from '../errors.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { LiveSource } from '../schemas/import.ts';

/**
 * The connection string of a live import's source, checked for syntax only (the API cannot reach
 * the source: on AWS it has no egress; the job checks reachability, credentials and version).
 * Every problem is a 422 naming `body.connectionString`, and no message ever repeats the string
 * or its password.
 */

const FIELD = 'body.connectionString';

/** The URI schemes each engine's live source may have; the scheme must match the addon's engine. */
const SCHEMES: Partial<Record<Engine, { schemes: readonly string[]; defaultPort: number }>> = {
  postgresql: POSTGRESQL_LIVE_SOURCE,
  mysql: MYSQL_LIVE_SOURCE,
};

/** `sslmode` / `ssl-mode` values that ask for TLS; the others leave it optional. */
const TLS_ON = new Set(['require', 'verify-ca', 'verify-full', 'required', 'verify_ca', 'verify_identity']);
const TLS_OFF = new Set(['disable', 'allow', 'prefer', 'disabled', 'preferred']);

const invalid = (message: string): UnsupportedError =>
  new UnsupportedError(`The connection string is invalid: ${message}`, [{ path: FIELD, message }]);

const decode = (part: string, what: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`the ${what} is not correctly percent-encoded`);
  }
};

/** Engines whose addons can import from a live database (where the catalog also says so). */
export const liveImportEngines = (): Engine[] => Object.keys(SCHEMES) as Engine[];

/**
 * Parses `scheme://user:password@host[:port]/database[?sslmode=require]` into connection details
 * for the job. The user, password and database are required: an import never guesses them.
 */
export const parseLiveConnectionString = (engine: Engine, connectionString: string): Credentials => {
  const spec = SCHEMES[engine];
  if (!spec) throw invalid(`${engine} addons cannot import from a live database`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(connectionString)?.[1]?.toLowerCase();
  if (!scheme) throw invalid(`it must start with ${spec.schemes[0]}://`);
  if (!spec.schemes.includes(scheme)) {
    throw invalid(
      `the scheme ${scheme}:// does not match this ${engine} addon: use ${spec.schemes.join(':// or ')}://`,
    );
  }
  let url: URL;
  try {
    // WHATWG URL parses special schemes only; the http form parses the authority the same way.
    url = new URL(`http://${connectionString.slice(scheme.length + 3)}`);
  } catch {
    throw invalid('it is not a URI of the form scheme://user:password@host:port/database');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('the host is missing');
  if (url.port && (Number(url.port) < 1 || Number(url.port) > 65535))
    throw invalid('the port is out of range');
  const port = url.port ? Number(url.port) : spec.defaultPort;
  const username = decode(url.username, 'user name');
  if (!username) throw invalid('the user name is missing (scheme://user:password@host/database)');
  const password = decode(url.password, 'password');
  if (!password) throw invalid('the password is missing (scheme://user:password@host/database)');
  const database = decode(url.pathname.replace(/^\//, ''), 'database name');
  if (!database || database.includes('/')) {
    throw invalid('the database name is missing or has a slash (scheme://user:password@host:port/database)');
  }
  if (username.length > 63 || database.length > 63 || password.length > 256 || host.length > 253) {
    throw invalid('the user name or database name is over 63 characters, or the password over 256');
  }
  if (url.hash) throw invalid('a fragment (#...) is not allowed');
  let tls = false;
  for (const [key, value] of url.searchParams) {
    const name = key.toLowerCase().replace('_', '-');
    if (name !== 'sslmode' && name !== 'ssl-mode') {
      throw invalid(`the parameter "${key}" is not supported (only sslmode)`);
    }
    const mode = value.toLowerCase();
    if (TLS_ON.has(mode)) tls = true;
    else if (!TLS_OFF.has(mode)) throw invalid(`sslmode "${value}" is not known`);
  }
  return { engine, host, port, database, username, password, uri: connectionString, tls };
};

/** What an import shows of its source: never the password or the string itself. */
export const liveSourceOf = (source: Credentials): LiveSource => ({
  host: source.host,
  port: source.port,
  database: source.database,
  username: source.username,
  tls: source.tls,
});

/**
 * The secret-store reference of a live import's connection string: the import id in place of an
 * addon id, so it is its own secret (`<prefix><projectId>/<importId>` in Secrets Manager), which
 * the job reads by this reference and which is deleted when the import ends.
 */
export const liveSourceSecretRef = (projectId: string, importId: string) => ({
  projectId,
  addonId: importId,
});
