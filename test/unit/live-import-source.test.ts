import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '#shared/errors.ts';
import { checkReachable, scrubSecret } from '#shared/jobs/live-import.ts';
import { majorNotNewer } from '#shared/jobs/live-source.ts';
import { MysqlLiveSource } from '#shared/jobs/mysql/live-source.ts';
import { PostgresLiveSource } from '#shared/jobs/postgresql/live-source.ts';
import { CreateImportRequestSchema } from '#shared/schemas/import.ts';
import { liveSourceOf, parseLiveConnectionString } from '#shared/services/live-import-source.ts';

const refusal = (engine: 'postgresql' | 'mysql' | 'redis', value: string) => {
  try {
    parseLiveConnectionString(engine, value);
  } catch (error) {
    expect(error).toBeInstanceOf(UnsupportedError);
    return error as UnsupportedError;
  }
  throw new Error(`${value} was accepted`);
};

describe('live import connection strings', () => {
  it('parses a PostgreSQL URI, percent-decoding its parts, with the default port', () => {
    expect(
      parseLiveConnectionString('postgresql', 'postgres://app%40x:p%2Fss%3Aw@db.example.com/shop%20db'),
    ).toEqual({
      engine: 'postgresql',
      host: 'db.example.com',
      port: 5432,
      database: 'shop db',
      username: 'app@x',
      password: 'p/ss:w',
      uri: 'postgres://app%40x:p%2Fss%3Aw@db.example.com/shop%20db',
      tls: false,
    });
  });

  it('parses MySQL URIs, IPv6 hosts and sslmode', () => {
    const parsed = parseLiveConnectionString('mysql', 'mysql://root:pw@[::1]:3307/app?ssl-mode=REQUIRED');
    expect(parsed).toMatchObject({ host: '::1', port: 3307, database: 'app', tls: true });
    expect(parseLiveConnectionString('postgresql', 'postgresql://u:p@h:6543/d?sslmode=require').tls).toBe(
      true,
    );
    expect(parseLiveConnectionString('postgresql', 'postgresql://u:p@h/d?sslmode=disable').tls).toBe(false);
    expect(parseLiveConnectionString('mysql', 'mariadb://u:p@h/d').port).toBe(3306);
  });

  it('refuses a scheme of another engine, naming body.connectionString and never the password', () => {
    const error = refusal('postgresql', 'mysql://u:topsecret@h:3306/d');
    expect(error.issues).toEqual([
      { path: 'body.connectionString', message: expect.stringContaining('mysql://') },
    ]);
    expect(JSON.stringify({ message: error.message, issues: error.issues })).not.toContain('topsecret');
    expect(refusal('mysql', 'postgresql://u:topsecret@h/d').message).toMatch(
      /does not match this mysql addon/,
    );
  });

  it.each([
    ['no scheme', 'u:p@h/d', /must start with postgresql:\/\//],
    ['no user', 'postgresql://h:5432/d', /user name is missing/],
    ['no password', 'postgresql://u@h/d', /password is missing/],
    ['no database', 'postgresql://u:p@h:5432', /database name is missing/],
    ['a path', 'postgresql://u:p@h/d/x', /database name is missing or has a slash/],
    ['a bad port', 'postgresql://u:p@h:70000/d', /not a URI|port is out of range/],
    ['an unknown parameter', 'postgresql://u:p@h/d?options=-c', /parameter "options" is not supported/],
    ['an unknown sslmode', 'postgresql://u:p@h/d?sslmode=maybe', /sslmode "maybe" is not known/],
    ['bad escapes', 'postgresql://u:%zz@h/d', /password|not a URI/],
  ])('refuses %s', (_name, value, message) => {
    const error = refusal('postgresql', value);
    expect(error.message).toMatch(message);
    expect(error.issues[0]?.path).toBe('body.connectionString');
  });

  it('refuses engines without live imports', () => {
    expect(refusal('redis', 'redis://u:p@h/0').message).toMatch(/cannot import from a live database/);
  });

  it('shows the source without the password', () => {
    const source = parseLiveConnectionString('postgresql', 'postgresql://u:pw@h:1/d');
    expect(liveSourceOf(source)).toEqual({ host: 'h', port: 1, database: 'd', username: 'u', tls: false });
  });

  it('is a request variant of its own: strict, with a bounded string', () => {
    expect(CreateImportRequestSchema.safeParse({ kind: 'live', connectionString: 'x' }).success).toBe(true);
    expect(CreateImportRequestSchema.safeParse({ kind: 'live' }).success).toBe(false);
    expect(
      CreateImportRequestSchema.safeParse({ kind: 'live', connectionString: 'x', sizeBytes: 1 }).success,
    ).toBe(false);
    expect(
      CreateImportRequestSchema.safeParse({ kind: 'live', connectionString: 'x'.repeat(2049) }).success,
    ).toBe(false);
  });
});

describe('live import checks', () => {
  it('compares majors number by number', () => {
    expect(majorNotNewer('15', '15')).toBe(true);
    expect(majorNotNewer('13', '15')).toBe(true);
    expect(majorNotNewer('16', '15')).toBe(false);
    expect(majorNotNewer('10.6', '10.11')).toBe(true);
    expect(majorNotNewer('10.11', '10.6')).toBe(false);
    expect(majorNotNewer('8.0', '8.4')).toBe(true);
    expect(majorNotNewer('8.4', '8.0')).toBe(false);
  });

  it('lets MySQL sources load within one server line when not newer, and leaves MySQL <-> MariaDB to the load', () => {
    const mysql = new MysqlLiveSource();
    const info = (version: string, major: string) => ({ version, major, databaseBytes: 0 });
    expect(mysql.loadsInto(info('8.0.39', '8.0'), info('8.4.3', '8.4'))).toBe(true);
    expect(mysql.loadsInto(info('8.4.3', '8.4'), info('8.0.39', '8.0'))).toBe(false);
    expect(mysql.loadsInto(info('10.11.6-MariaDB', '10.11'), info('10.6.1-MariaDB', '10.6'))).toBe(false);
    expect(mysql.loadsInto(info('10.11.6-MariaDB', '10.11'), info('8.4.3', '8.4'))).toBe(true);
    const postgres = new PostgresLiveSource();
    expect(postgres.loadsInto(info('16.4', '16'), info('15.8', '15'))).toBe(false);
    expect(postgres.loadsInto(info('14.1', '14'), info('15.8', '15'))).toBe(true);
  });

  it('scrubs the password, encoded or not, and the whole string from any text', () => {
    const source = { password: 'p@ss word', uri: 'postgresql://u:p%40ss%20word@h/d' };
    expect(
      scrubSecret('failed for postgresql://u:p%40ss%20word@h/d: p@ss word / p%40ss%20word', source),
    ).toBe('failed for ***: *** / ***');
  });

  it('names host and port of a source nothing listens on', async () => {
    await expect(checkReachable('127.0.0.1', 1, 2000)).rejects.toThrow(
      /127\.0\.0\.1:1 is not reachable: ECONNREFUSED/,
    );
  });
});
