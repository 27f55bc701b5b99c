import { EXTERNAL_SCHEME_SPECS } from '../engines/external-schemes.ts';
import { ValidationError } from '../errors.ts';
import type { ConnectionSecret } from '../ports/secret-store.ts';

/**
 * The connection string of an external service, checked for syntax (the platform does not
 * connect to it: on AWS the API has no egress). Every problem is a 400 naming
 * `body.connectionString`, and no message ever repeats the string or its password.
 */

const FIELD = 'body.connectionString';

// Which URI schemes name which engine, and what each needs: the engines' own files.
const SCHEMES = EXTERNAL_SCHEME_SPECS;

const TLS_ON = new Set([
  'require',
  'verify-ca',
  'verify-full',
  'required',
  'verify_ca',
  'verify_identity',
  'true',
]);

const invalid = (message: string): ValidationError =>
  new ValidationError(`The connection string is invalid: ${message}`, [{ path: FIELD, message }]);

const decode = (part: string, what: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`the ${what} is not correctly percent-encoded`);
  }
};

/** The schemes an external service may have, for messages and docs. */
export const EXTERNAL_SCHEMES = Object.keys(SCHEMES);

/**
 * Parses `scheme://[user[:password]@]host[:port][/database][?params]` into connection details in
 * the shape every addon publishes; the engine comes from the scheme. The string itself is kept
 * as the `uri`, parameters included, since it is what the workload connects with.
 */
export const parseExternalConnectionString = (connectionString: string): ConnectionSecret => {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(connectionString)?.[1]?.toLowerCase();
  if (!scheme) throw invalid('it must start with a scheme, e.g. postgresql://');
  const spec = SCHEMES[scheme];
  if (!spec)
    throw invalid(`the scheme ${scheme}:// is not supported: use ${EXTERNAL_SCHEMES.join('://, ')}://`);
  let rest = connectionString.slice(scheme.length + 3);
  // A MongoDB seed list (host1,host2,...): the details name the first host.
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  if (spec.engine === 'mongodb' && authority.includes(',')) {
    rest = `${authority.slice(0, authority.indexOf(','))}${authorityEnd === -1 ? '' : rest.slice(authorityEnd)}`;
  }
  let url: URL;
  try {
    // WHATWG URL parses special schemes only; the http form parses the authority the same way.
    url = new URL(`http://${rest}`);
  } catch {
    throw invalid('it is not a URI of the form scheme://user:password@host:port/database');
  }
  if (url.hash) throw invalid('a fragment (#...) is not allowed');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('the host is missing');
  const port = url.port ? Number(url.port) : spec.defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('the port is out of range');
  const username = decode(url.username, 'user name') || spec.defaults.username;
  if (spec.requires.username && !username)
    throw invalid('the user name is missing (scheme://user:password@host/database)');
  const password = decode(url.password, 'password');
  if (spec.requires.password && !password)
    throw invalid('the password is missing (scheme://user:password@host/database)');
  const database = decode(url.pathname.replace(/^\//, ''), 'database name') || spec.defaults.database;
  if (spec.requires.database && !database)
    throw invalid('the database name is missing (scheme://user:password@host:port/database)');
  if (database.includes('/')) throw invalid('the database name has a slash');
  if (username.length > 63 || database.length > 63 || password.length > 256 || host.length > 253) {
    throw invalid(
      'the user name or database name is over 63 characters, the password over 256 or the host over 253',
    );
  }
  let tls = spec.tls;
  for (const [key, value] of url.searchParams) {
    const name = key.toLowerCase().replace('_', '-');
    if (['sslmode', 'ssl-mode', 'ssl', 'tls'].includes(name) && TLS_ON.has(value.toLowerCase())) tls = true;
  }
  return { engine: spec.engine, host, port, database, username, password, uri: connectionString, tls };
};
