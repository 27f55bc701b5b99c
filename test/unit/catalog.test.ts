import { describe, expect, it } from 'vitest';
import { addonTypes, ENGINES, upgradeTargets } from '#shared/catalog/engines.ts';
import { UnsupportedError } from '#shared/errors.ts';
import { CreateAddonRequestSchema } from '#shared/schemas/addon.ts';
import { AddonTypeSchema } from '#shared/schemas/catalog.ts';
import { AddonService, type AddonServiceDeps } from '#shared/services/addon-service.ts';

describe('engine catalog', () => {
  for (const target of ['aws', 'local'] as const) {
    it(`lists the four engines on ${target}, each valid against the schema`, () => {
      const types = addonTypes(target);
      expect(types.map((type) => type.engine)).toEqual(['postgresql', 'mysql', 'redis', 'mongodb']);
      for (const type of types) {
        expect(() => AddonTypeSchema.parse(type)).not.toThrow();
        expect(type.versions.map((v) => v.version)).toContain(type.defaultVersion);
        expect(type.plans.map((p) => p.id)).toContain(type.defaultPlan);
      }
    });

    it(`only allows upgrades to the next major, never down, where upgrades are offered, on ${target}`, () => {
      for (const type of addonTypes(target)) {
        type.versions.forEach((entry, index) => {
          expect(entry.upgradeTargets).toEqual(
            type.capabilities.upgrade ? type.versions.slice(index + 1, index + 2).map((v) => v.version) : [],
          );
        });
        if (!type.capabilities.upgrade && type.capabilities.provision)
          expect(type.notes.join(' ')).toMatch(/Upgrades \(upgrade\) are not available/);
      }
    });
  }

  it('says which engines cannot be provisioned yet, with a note', () => {
    for (const type of addonTypes('local')) {
      if (['postgresql', 'mysql', 'redis'].includes(type.engine))
        expect(type.capabilities.provision).toBe(true);
      else {
        expect(type.capabilities.provision).toBe(false);
        expect(type.notes.join(' ')).toMatch(/not available/);
      }
    }
  });

  it('says truthfully per target whether TLS is on by default: on where it is available (AWS), opt-in locally', () => {
    const postgres = (target: 'aws' | 'local') =>
      addonTypes(target).find((type) => type.engine === 'postgresql');
    expect(postgres('aws')).toMatchObject({ defaultTls: true, capabilities: { tls: true } });
    expect(postgres('local')).toMatchObject({ defaultTls: false, capabilities: { tls: true } });
    for (const target of ['aws', 'local'] as const) {
      for (const type of addonTypes(target)) {
        const optIn = ENGINES[type.engine].tlsOptIn?.includes(target) ?? false;
        expect(type.defaultTls).toBe(type.capabilities.tls && !optIn);
      }
    }
  });

  it.each([
    ['aws', undefined, true],
    ['aws', false, false],
    ['local', undefined, false],
  ] as const)('on %s, a create with tls %s makes an addon with tls %s', (target, tls, expected) => {
    const service = new AddonService({ target } as unknown as AddonServiceDeps);
    const request = CreateAddonRequestSchema.parse({ name: 'orders', engine: 'postgresql', tls });
    expect(service.resolveCreate(request).tls).toBe(expected);
  });

  it('offers downloadable snapshots only where a snapshot is a file the engine loads elsewhere (Redis RDB)', () => {
    for (const target of ['aws', 'local'] as const) {
      const downloadable = addonTypes(target)
        .filter((type) => type.capabilities.snapshotDownload)
        .map((type) => type.engine);
      expect(downloadable).toEqual(['redis']);
    }
  });

  it('offers point-in-time recovery on AWS for the RDS engines, with each plan saying how far back it reaches', () => {
    const pitr = addonTypes('aws')
      .filter((type) => type.capabilities.pitr)
      .map((type) => type.engine);
    expect(pitr).toEqual(['postgresql', 'mysql']);
    for (const type of addonTypes('aws').filter((t) => t.capabilities.pitr)) {
      for (const plan of type.plans) {
        expect(plan.pitrRetentionDays).toBeGreaterThanOrEqual(1);
        expect(plan.pitrRetentionDays).toBeLessThanOrEqual(35);
      }
    }
  });

  it('offers MySQL 8.0 and 8.4 on AWS (RDS for MySQL) with dumps, snapshots, PITR, up to 15 read replicas and TLS on by default, and says what it lacks', () => {
    const mysql = addonTypes('aws').find((type) => type.engine === 'mysql');
    expect(mysql).toMatchObject({
      service: 'Amazon RDS for MySQL',
      defaultVersion: '8.4',
      defaultTls: true,
      maxReplicas: 15,
      capabilities: {
        provision: true,
        dumpBackup: true,
        snapshotBackup: true,
        snapshotDownload: false,
        tls: true,
        replicas: true,
        pitr: true,
        publicAccess: true,
        networkingUpdate: true,
      },
    });
    expect(mysql?.versions.map((v) => v.version)).toEqual(['8.0', '8.4']);
    expect(mysql?.notes.join(' ')).toMatch(/replicas/i);
  });

  it('on AWS, refuses MySQL replicas at create with a 422 naming the field (added by PATCH once it runs), and honours tls: false', () => {
    const service = new AddonService({ target: 'aws' } as unknown as AddonServiceDeps);
    const request = (body: Record<string, unknown>) =>
      CreateAddonRequestSchema.parse({ name: 'orders', engine: 'mysql', ...body });
    expect(service.resolveCreate(request({}))).toMatchObject({ version: '8.4', tls: true });
    expect(service.resolveCreate(request({ tls: false, version: '8.0' }))).toMatchObject({
      version: '8.0',
      tls: false,
    });
    let refused: unknown;
    try {
      service.resolveCreate(request({ replicas: 1 }));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(UnsupportedError);
    expect((refused as UnsupportedError).issues).toContainEqual({
      path: 'body.replicas',
      message: expect.stringContaining('create it, then PATCH replicas'),
    });
    expect(() => service.resolveCreate(request({ version: '5.7' }))).toThrow(UnsupportedError);
  });

  it('offers locally the PostgreSQL majors the installed client tools can dump, 14 upgrading to 15', () => {
    const postgres = addonTypes('local').find((type) => type.engine === 'postgresql');
    expect(postgres?.versions).toEqual([
      { version: '14', upgradeTargets: ['15'], deprecated: true, endOfLife: '2027-02-28' },
      { version: '15', upgradeTargets: [], deprecated: false },
    ]);
    expect(postgres?.defaultVersion).toBe('15');
  });

  it('lets minors of a major go freely and the next major only, never a skip or a downgrade', () => {
    const original = ENGINES.postgresql.versions.aws;
    ENGINES.postgresql.versions.aws = ['14', '14.9', '15', '15.4', '16'];
    try {
      expect(upgradeTargets('postgresql', 'aws', '14')).toEqual(['14.9', '15', '15.4']);
      expect(upgradeTargets('postgresql', 'aws', '15')).toEqual(['15.4', '16']);
      expect(upgradeTargets('postgresql', 'aws', '16')).toEqual([]);
      expect(upgradeTargets('postgresql', 'aws', '13')).toEqual([]);
    } finally {
      ENGINES.postgresql.versions.aws = original;
    }
    expect(upgradeTargets('mysql', 'aws', '8.0')).toEqual(['8.4']);
    expect(upgradeTargets('mysql', 'local', '10.11')).toEqual([]);
    expect(upgradeTargets('redis', 'local', '7.0')).toEqual([]);
  });
});
