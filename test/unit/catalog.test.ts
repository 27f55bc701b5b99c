import { describe, expect, it } from 'vitest';
import { addonTypes } from '#shared/catalog/engines.ts';
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

    it(`only allows upgrades to the next major, never down, on ${target}`, () => {
      for (const type of addonTypes(target)) {
        type.versions.forEach((entry, index) => {
          expect(entry.upgradeTargets).toEqual(
            type.versions.slice(index + 1, index + 2).map((v) => v.version),
          );
        });
      }
    });
  }

  it('says which engines cannot be provisioned yet, with a note', () => {
    for (const type of addonTypes('local')) {
      if (type.engine === 'postgresql') expect(type.capabilities.provision).toBe(true);
      else {
        expect(type.capabilities.provision).toBe(false);
        expect(type.notes.join(' ')).toMatch(/not available/);
      }
    }
  });

  it('says truthfully per target whether TLS is on by default: on where it is available (AWS), off locally', () => {
    const postgres = (target: 'aws' | 'local') =>
      addonTypes(target).find((type) => type.engine === 'postgresql');
    expect(postgres('aws')).toMatchObject({ defaultTls: true, capabilities: { tls: true } });
    expect(postgres('local')).toMatchObject({ defaultTls: false, capabilities: { tls: false } });
    for (const target of ['aws', 'local'] as const) {
      for (const type of addonTypes(target)) expect(type.defaultTls).toBe(type.capabilities.tls);
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

  it('offers locally only the PostgreSQL major that the installed client tools can dump', () => {
    const postgres = addonTypes('local').find((type) => type.engine === 'postgresql');
    expect(postgres?.versions.map((v) => v.version)).toEqual(['15']);
  });
});
