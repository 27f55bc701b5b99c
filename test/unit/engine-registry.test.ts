import { describe, expect, it } from 'vitest';
import { ENGINE_FACTS } from '#shared/engines/index.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { ConnectionSecret } from '#shared/ports/secret-store.ts';
import { compareVersions } from '#shared/util/versions.ts';

describe('engine registry', () => {
  it('gives each engine its own adapters, built once on first use, and names an engine it lacks', () => {
    const built: string[] = [];
    const registry = new EngineRegistry<{ name: string }>('dump tool', {
      postgresql: () => {
        built.push('postgresql');
        return { name: 'pg' };
      },
      mysql: () => {
        built.push('mysql');
        return { name: 'my' };
      },
    });
    expect(built).toEqual([]);
    expect(registry.of('mysql').name).toBe('my');
    expect(registry.of('mysql')).toBe(registry.of('mysql'));
    expect(built).toEqual(['mysql']);
    expect(registry.engines()).toEqual(['postgresql', 'mysql']);
    expect(registry.has('redis')).toBe(false);
    const refused = (() => {
      try {
        registry.of('redis');
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(UnsupportedError);
    expect((refused as UnsupportedError).message).toBe('This deployment has no dump tool for redis addons');
    expect((refused as UnsupportedError).issues).toEqual([expect.objectContaining({ path: 'engine' })]);
  });
});

describe('version comparison', () => {
  it('compares majors part by part, as numbers', () => {
    expect(compareVersions('10.11', '10.6')).toBeGreaterThan(0);
    expect(compareVersions('8.4', '8.0')).toBeGreaterThan(0);
    expect(compareVersions('17', '9.6')).toBeGreaterThan(0);
    expect(compareVersions('15', '15.0')).toBe(0);
    expect(compareVersions('10.11.19-MariaDB-0+deb12u1', '10.11')).toBeGreaterThan(0);
    expect(compareVersions('8.0', '8.4')).toBeLessThan(0);
  });
});

describe('connection details per engine', () => {
  const secret = (overrides: Partial<ConnectionSecret>): Omit<ConnectionSecret, 'uri'> => ({
    engine: 'postgresql',
    host: 'db.internal',
    port: 5432,
    database: 'shop_db',
    username: 'addonadmin',
    password: 'p@ss/word',
    tls: false,
    ...overrides,
  });

  it('builds each engine URI with its scheme, escaped credentials and its TLS parameter', () => {
    expect(ENGINE_FACTS.postgresql.connectionUri(secret({ tls: true }))).toBe(
      'postgresql://addonadmin:p%40ss%2Fword@db.internal:5432/shop_db?sslmode=require',
    );
    expect(ENGINE_FACTS.mysql.connectionUri(secret({ engine: 'mysql', port: 3306 }))).toBe(
      'mysql://addonadmin:p%40ss%2Fword@db.internal:3306/shop_db',
    );
    expect(ENGINE_FACTS.mysql.connectionUri(secret({ engine: 'mysql', port: 3306, tls: true }))).toBe(
      'mysql://addonadmin:p%40ss%2Fword@db.internal:3306/shop_db?ssl-mode=REQUIRED',
    );
    expect(
      ENGINE_FACTS.redis.connectionUri(secret({ engine: 'redis', port: 6379, database: '0', tls: true })),
    ).toMatch(/^rediss:\/\//);
  });

  it('names downloaded dumps after what the engine dump tool writes', () => {
    expect(ENGINE_FACTS.postgresql.dumpExtension).toBe('dump');
    expect(ENGINE_FACTS.mysql.dumpExtension).toBe('sql');
  });
});
