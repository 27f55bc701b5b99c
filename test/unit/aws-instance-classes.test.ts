import { describe, expect, it } from 'vitest';
import { ENGINES } from '#shared/catalog/engines.ts';
import type { Engine } from '#shared/schemas/catalog.ts';

/**
 * What each AWS service offers, as AWS documents it (vCPUs, memory in GiB): the catalog's plans
 * must name these classes with these sizes. Sources: the RDS DB instance class hardware table
 * (Concepts.DBInstanceClass.Summary), ElastiCache supported node types with their memory
 * (CacheNodes.SupportedTypes and the pricing table), DocumentDB instance classes
 * (db-instance-classes.html). Not every class, only the families the catalog may use.
 */
const RDS: Record<string, [vcpu: number, memoryGiB: number]> = {
  'db.t4g.micro': [2, 1],
  'db.t4g.small': [2, 2],
  'db.t4g.medium': [2, 4],
  'db.t4g.large': [2, 8],
  'db.m6g.large': [2, 8],
  'db.m6g.xlarge': [4, 16],
  'db.m6g.2xlarge': [8, 32],
  'db.m7g.large': [2, 8],
  'db.m7g.xlarge': [4, 16],
  'db.r6g.large': [2, 16],
  'db.r6g.xlarge': [4, 32],
};

const ELASTICACHE: Record<string, [vcpu: number, memoryGiB: number]> = {
  'cache.t4g.micro': [2, 0.5],
  'cache.t4g.small': [2, 1.37],
  'cache.t4g.medium': [2, 3.09],
  'cache.m7g.large': [2, 6.38],
  'cache.m7g.xlarge': [4, 12.93],
  'cache.r7g.large': [2, 13.07],
  'cache.r7g.xlarge': [4, 26.32],
};

// DocumentDB has no micro or small classes: t3/t4g.medium is the smallest.
const DOCUMENTDB: Record<string, [vcpu: number, memoryGiB: number]> = {
  'db.t3.medium': [2, 4],
  'db.t4g.medium': [2, 4],
  'db.r6g.large': [2, 16],
  'db.r6g.xlarge': [4, 32],
  'db.r6g.2xlarge': [8, 64],
  'db.r6g.4xlarge': [16, 128],
};

const OFFERED: Record<Engine, Record<string, [number, number]>> = {
  postgresql: RDS,
  mysql: RDS,
  redis: ELASTICACHE,
  mongodb: DOCUMENTDB,
};

describe('catalog plans against what AWS offers', () => {
  for (const [engine, entry] of Object.entries(ENGINES) as [Engine, (typeof ENGINES)[Engine]][]) {
    it(`${engine}: every plan names a real class of its service, with its real vCPUs and memory`, () => {
      for (const plan of entry.plans) {
        const offered = OFFERED[engine][plan.instanceClass];
        expect(offered, `${engine} plan ${plan.id}: ${plan.instanceClass}`).toBeDefined();
        const [vcpu, memoryGiB] = offered ?? [0, 0];
        expect(plan.vcpu, `${plan.instanceClass} vCPUs`).toBe(vcpu);
        // Published memory is rounded to two decimals of GiB.
        expect(Math.abs(plan.memoryMiB - memoryGiB * 1024), `${plan.instanceClass} memory`).toBeLessThan(6);
      }
    });
  }
});
