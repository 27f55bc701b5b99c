import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, MissingToolError, ProviderError } from '#shared/errors.ts';
import type { InstanceContext } from './driver.ts';
import { chownTo, exists } from './system.ts';

const run = promisify(execFile);

/**
 * TLS on the local target: one CA per platform data directory (`${dataDir}/tls/ca.pem`, its key
 * 0600 beside it, the platform's alone), and per instance a server certificate it signs
 * (`${instanceDir}/tls/`, owned by the engine's OS user). Made with the openssl CLI (Node 20 has
 * no X.509 generation). Clients verify the server with the CA, which the connection details carry
 * (`caCertificate`).
 */

const CA_DAYS = '3650';
const SERVER_DAYS = '825';

const openssl = async (args: string[], cwd: string): Promise<void> => {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MissingToolError('openssl', 'TLS on the local target needs it: apt-get install openssl');
    }
    throw new ProviderError(`openssl ${args[0]} failed: ${errorMessage(error)}`, 'TlsSetup');
  }
};

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Where the CA of the platform data directory that holds `instanceDir` is. */
export const caDirOf = (ctx: InstanceContext): string => path.resolve(ctx.dir, '..', '..', 'tls');

let creating: Promise<void> | undefined;

/** The data directory's CA, created once (made aside and renamed into place, so never half-written). */
export const ensureCa = async (caDir: string): Promise<string> => {
  const certificate = path.join(caDir, 'ca.pem');
  if (!(await exists(certificate))) {
    creating ??= (async () => {
      const scratch = `${caDir}.${randomBytes(6).toString('hex')}.tmp`;
      await fs.mkdir(scratch, { mode: 0o700 });
      try {
        await openssl(
          [
            'req',
            '-x509',
            ...EC_KEY,
            '-keyout',
            'ca.key',
            '-out',
            'ca.pem',
            '-days',
            CA_DAYS,
            '-subj',
            `/CN=addons-platform local CA ${os.hostname()}`.slice(0, 64),
            '-addext',
            'basicConstraints=critical,CA:TRUE',
            '-addext',
            'keyUsage=critical,keyCertSign,cRLSign',
          ],
          scratch,
        );
        await fs.chmod(path.join(scratch, 'ca.key'), 0o600);
        await fs.chmod(path.join(scratch, 'ca.pem'), 0o644);
        await fs.rename(scratch, caDir).catch(async (error: NodeJS.ErrnoException) => {
          // Another process made it first: theirs stands.
          if (!(await exists(certificate))) throw error;
        });
      } finally {
        await fs.rm(scratch, { recursive: true, force: true });
      }
    })().finally(() => {
      creating = undefined;
    });
    await creating;
  }
  return fs.readFile(certificate, 'utf8');
};

/** Names the server certificate is valid for: the loopback names and the public host. */
const subjectAltNames = (hosts: string[]): string =>
  [...new Set(['127.0.0.1', 'localhost', ...hosts])]
    .map((host) => (/^[\d.]+$/.test(host) || host.includes(':') ? `IP:${host}` : `DNS:${host}`))
    .join(',');

/**
 * The instance's server certificate and key, signed by the CA, made again when the names it must
 * cover changed. Returns their paths (readable by the engine's OS user only).
 */
export const ensureServerCertificate = async (
  ctx: InstanceContext,
  hosts: string[],
): Promise<{ certificate: string; key: string; ca: string }> => {
  const caDir = caDirOf(ctx);
  await ensureCa(caDir);
  const dir = path.join(ctx.dir, 'tls');
  const certificate = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  const names = subjectAltNames(hosts);
  const namesFile = path.join(dir, 'names');
  const current = await fs.readFile(namesFile, 'utf8').catch(() => undefined);
  if (current !== names || !(await exists(certificate)) || !(await exists(key))) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await chownTo(dir, ctx.runAs);
    const extensions = path.join(dir, 'server.ext');
    await fs.writeFile(
      extensions,
      `subjectAltName=${names}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    await openssl(
      ['req', '-new', ...EC_KEY, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        path.join(caDir, 'ca.pem'),
        '-CAkey',
        path.join(caDir, 'ca.key'),
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        SERVER_DAYS,
        '-extfile',
        'server.ext',
        '-out',
        'server.crt',
      ],
      dir,
    );
    await fs.rm(path.join(dir, 'server.csr'), { force: true });
    for (const file of [certificate, key]) {
      await fs.chmod(file, 0o600);
      await chownTo(file, ctx.runAs);
    }
    await fs.writeFile(namesFile, names);
  }
  return { certificate, key, ca: path.join(caDir, 'ca.pem') };
};

/** Where a public instance is reached from other machines: ADDONS_PUBLIC_HOST, else the first external IPv4. */
export const defaultPublicHost = (): string => {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal);
  return external?.address ?? '127.0.0.1';
};
