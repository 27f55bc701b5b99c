import type { CatalogEntry } from '../engines/engine-facts.ts';
import { ENGINE_FACTS } from '../engines/index.ts';
import { ENGINE_NOTES } from '../engines/notes.ts';
import {
  type AddonType,
  type Capabilities,
  type Capability,
  ENGINE_NAMES,
  type Engine,
  type Plan,
  type Target,
} from '../schemas/catalog.ts';

/**
 * The engine catalog is data: versions, plans and capability flags per engine and target, each
 * engine's in its own folder (`shared/engines/<engine>/`). Workflows branch on these flags
 * instead of on the engine name, and the API refuses with a 422 whatever a flag says the engine
 * cannot do here.
 */
export const ENGINES: Record<Engine, CatalogEntry> = Object.fromEntries(
  ENGINE_NAMES.map((engine) => [engine, ENGINE_FACTS[engine].catalog]),
) as Record<Engine, CatalogEntry>;

/** What an engine offers on one target: the part of its catalog entry a machine can decide. */
export interface TargetOffer {
  versions: string[];
  defaultVersion: string;
  capabilities: Capabilities;
  notes: string[];
}

/**
 * Replace what `engine` offers on `target` for the rest of this process. The local composition
 * root calls it at start for an engine whose server the machine may or may not have (MongoDB:
 * user-installed), so the catalog, the create checks and the backup checks all answer for this
 * machine. Every reader goes through `ENGINES`, so nothing else needs to know.
 */
export const offerOnTarget = (engine: Engine, target: Target, offer: TargetOffer): void => {
  const entry = ENGINES[engine];
  entry.versions[target] = [...offer.versions];
  entry.defaultVersion[target] = offer.defaultVersion;
  entry.capabilities[target] = { ...offer.capabilities };
  ENGINE_NOTES[engine][target] = [...offer.notes];
};

export const addonTypes = (target: Target): AddonType[] =>
  ENGINE_NAMES.map((engine) => addonType(engine, target));

export const addonType = (engine: Engine, target: Target): AddonType => {
  const entry = ENGINES[engine];
  const versions = entry.versions[target];
  return {
    engine,
    displayName: entry.displayName,
    service: entry.service[target],
    versions: versions.map((version) => ({
      version,
      upgradeTargets: upgradeTargets(engine, target, version),
      deprecated: Boolean(entry.deprecated?.[version]),
      ...(entry.deprecated?.[version]?.endOfLife ? { endOfLife: entry.deprecated[version].endOfLife } : {}),
    })),
    defaultVersion: entry.defaultVersion[target],
    plans: entry.plans,
    defaultPlan: entry.defaultPlan,
    // TLS is on by default wherever the engine offers it on this target, but where it is opt-in.
    defaultTls: entry.capabilities[target].tls && !entry.tlsOptIn?.includes(target),
    storageGiB: entry.storageGiB,
    maxReplicas: maxReplicasOf(engine, target),
    capabilities: entry.capabilities[target],
    notes: ENGINE_NOTES[engine][target],
  };
};

/** The major of a catalog version: what comes before the first dot ("15", "8.4" -> "8"). */
const majorOf = (version: string): string => version.split('.')[0] as string;

/**
 * The versions an addon on `version` can be upgraded to here, in catalog order: later minors of
 * its own major freely, and the versions of the next major only (majors one at a time, never a
 * downgrade or a skip). None where the engine cannot be upgraded on this target
 * (`capabilities.upgrade`) or `version` is not offered.
 */
export const upgradeTargets = (engine: Engine, target: Target, version: string): string[] => {
  const entry = ENGINES[engine];
  if (!entry.capabilities[target].upgrade) return [];
  const versions = entry.versions[target];
  const index = versions.indexOf(version);
  if (index < 0) return [];
  const later = versions.slice(index + 1);
  const nextMajor = later.map(majorOf).find((major) => major !== majorOf(version));
  return later.filter((each) => majorOf(each) === majorOf(version) || majorOf(each) === nextMajor);
};

export const hasCapability = (engine: Engine, target: Target, capability: Capability): boolean =>
  ENGINES[engine].capabilities[target][capability];

/** What `engine` can do on `target` (the catalog's `capabilities`), without the rest of its entry. */
export const capabilitiesOf = (engine: Engine, target: Target): Capabilities =>
  ENGINES[engine].capabilities[target];

/** The most read replicas an addon of `engine` may have on `target` (0 where it can have none). */
export const maxReplicasOf = (engine: Engine, target: Target): number =>
  capabilitiesOf(engine, target).replicas ? ENGINES[engine].maxReplicas[target] : 0;

export const findPlan = (engine: Engine, planId: string): Plan | undefined =>
  ENGINES[engine].plans.find((plan) => plan.id === planId);

/**
 * How an import loads its file: engines with dump backups load it with their restore job (the
 * file is what a dump backup's download gives); the others turn it into a snapshot and restore
 * that (Redis: an RDB file).
 */
export const importPathOf = (engine: Engine, target: Target): 'dump' | 'snapshot' =>
  capabilitiesOf(engine, target).dumpBackup ? 'dump' : 'snapshot';
