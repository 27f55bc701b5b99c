import { describe, expect, it } from 'vitest';
import { jobTls, libpqEnv } from '#shared/jobs/postgresql/postgres.ts';
import type { Credentials } from '#shared/schemas/addon.ts';

const BUNDLE = '/etc/ssl/certs/rds-global-bundle.pem';
const connection = (tls: boolean): Credentials => ({
  engine: 'postgresql',
  host: 'addon-x.abcdefghijkl.eu-west-1.rds.amazonaws.com',
  port: 5432,
  database: 'orders',
  username: 'addonadmin',
  password: 'secret',
  uri: '',
  tls,
});

describe('the TLS of a job connection', () => {
  it.each([true, false])(
    'verifies the server with the CA bundle in the job image, whatever the addon says (tls: %s)',
    (tls) => {
      // The job image and task definition set both (infra/images/Dockerfile, the Backups construct).
      const env = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: BUNDLE };
      expect(jobTls(connection(tls), env)).toEqual({ mode: 'verify-full', rootCert: BUNDLE });
    },
  );

  it('refuses verify-full without a bundle instead of connecting unverified', () => {
    expect(() => jobTls(connection(true), { PGSSLMODE: 'verify-full' })).toThrow(/PGSSLROOTCERT/);
  });

  it('follows the addon where no job image settings exist (the local target)', () => {
    expect(jobTls(connection(false), {})).toEqual({ mode: 'prefer' });
    expect(jobTls(connection(true), {})).toEqual({ mode: 'require' });
    expect(jobTls(connection(true), { PGSSLROOTCERT: BUNDLE })).toEqual({
      mode: 'verify-full',
      rootCert: BUNDLE,
    });
  });

  it('hands pg_dump, pg_restore and psql the mode and the bundle in their environment', () => {
    const saved = { mode: process.env.PGSSLMODE, cert: process.env.PGSSLROOTCERT };
    Object.assign(process.env, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: BUNDLE });
    try {
      expect(libpqEnv(connection(false), 'addons-dump')).toMatchObject({
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: BUNDLE,
      });
    } finally {
      for (const [key, value] of [
        ['PGSSLMODE', saved.mode],
        ['PGSSLROOTCERT', saved.cert],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
