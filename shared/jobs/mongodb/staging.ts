import type { Db } from 'mongodb';

/**
 * The all-or-nothing part of a MongoDB dump restore, as far as MongoDB allows it.
 *
 * mongorestore loads the archive BESIDE the live collections, in the same database, each
 * collection `c` as `__addons_restore.c` (`--nsFrom`/`--nsTo`): the customer's collections are
 * untouched while it runs, and any failure before the commit (a corrupted or truncated artifact,
 * a checksum mismatch, a loader error, an abort) only drops those staged collections.
 *
 * The commit then writes a marker (the point of no return: the restore id and the collections
 * of the backup), renames every staged collection over its original (`renameCollection` with
 * `dropTarget`: atomic per collection, a metadata change within one database, indexes kept),
 * recreates staged views over theirs (a view cannot be renamed), drops the collections the
 * backup did not have, and removes the marker. MongoDB has no transaction over DDL, so the
 * switch is atomic per collection, not for the database as a whole: a reader during the commit
 * may see some collections restored and others not yet. A crash during the commit leaves the
 * marker; the next run of the same restore (same id) only finishes the commit, and any other
 * restore finishes it first. Same-database renames need only `renameCollectionSameDB`, which
 * the `readWrite` role grants: the addon's own user can do all of it.
 */
export const STAGING_PREFIX = '__addons_restore.';
export const MARKER_COLLECTION = '__addons_restore_marker';

export interface CollectionInfo {
  name: string;
  /** `collection`, `view` (timeseries collections are not staged differently). */
  type: string;
  options?: Record<string, unknown>;
}

export interface RestoreMarker {
  restoreId: string;
  /** The backup's collections and views (their final names): everything else is dropped. */
  collections: string[];
}

/** What the restore does to the addon's database; the driver's in production, a fake in tests. */
export interface RestoreTarget {
  list(): Promise<CollectionInfo[]>;
  /** `renameCollection` with `dropTarget: true`. */
  rename(from: string, to: string): Promise<void>;
  /** Drops a collection or view; an absent one is fine. */
  drop(name: string): Promise<void>;
  createView(name: string, options: Record<string, unknown>): Promise<void>;
  readMarker(): Promise<RestoreMarker | undefined>;
  writeMarker(marker: RestoreMarker): Promise<void>;
  dropMarker(): Promise<void>;
}

const isStaged = (name: string) => name.startsWith(STAGING_PREFIX);
/** The platform's own collections, and mongod's: never dropped as "not in the backup". */
const isKept = (name: string) => isStaged(name) || name === MARKER_COLLECTION || name.startsWith('system.');

/** Drop what an earlier, uncommitted restore staged. */
export const dropStaging = async (target: RestoreTarget): Promise<void> => {
  for (const collection of await target.list()) {
    if (isStaged(collection.name)) await target.drop(collection.name);
  }
};

/**
 * The point of no return: the marker names the restore and the backup's collections (the
 * staged ones, as they will be called).
 */
export const beginCommit = async (target: RestoreTarget, restoreId: string): Promise<void> => {
  const staged = (await target.list()).filter((collection) => isStaged(collection.name));
  await target.writeMarker({
    restoreId,
    collections: staged.map((collection) => collection.name.slice(STAGING_PREFIX.length)),
  });
};

/**
 * Finish a committed restore (the marker exists): switch every staged collection in, drop what
 * the backup did not have, remove the marker. Idempotent: a crash anywhere is finished by
 * running it again.
 */
export const rollForward = async (target: RestoreTarget): Promise<void> => {
  const marker = await target.readMarker();
  if (!marker) return;
  const before = await target.list();
  // Collections first: a view's source must exist under its final name when the view is made.
  const staged = before
    .filter((collection) => isStaged(collection.name))
    .sort((a, b) => Number(a.type === 'view') - Number(b.type === 'view'));
  for (const collection of staged) {
    const finalName = collection.name.slice(STAGING_PREFIX.length);
    if (collection.type === 'view') {
      await target.drop(finalName);
      await target.createView(finalName, unstagedView(collection.options ?? {}));
      await target.drop(collection.name);
    } else {
      await target.rename(collection.name, finalName);
    }
  }
  const wanted = new Set(marker.collections);
  for (const collection of await target.list()) {
    if (!isKept(collection.name) && !wanted.has(collection.name)) await target.drop(collection.name);
  }
  await target.dropMarker();
};

/** A staged view's definition, on its source's final name should the loader have renamed that too. */
const unstagedView = (options: Record<string, unknown>): Record<string, unknown> => {
  const viewOn = options.viewOn;
  return typeof viewOn === 'string' && isStaged(viewOn)
    ? { ...options, viewOn: viewOn.slice(STAGING_PREFIX.length) }
    : options;
};

const MARKER_ID = 'restore';

/** The RestoreTarget of a database, through the Node driver (as the addon's user). */
export const databaseTarget = (db: Db): RestoreTarget => ({
  list: async () =>
    (await db.listCollections({}, { nameOnly: false }).toArray()).map((info) => ({
      name: info.name,
      type: String(info.type ?? 'collection'),
      options: (info as { options?: Record<string, unknown> }).options ?? {},
    })),
  rename: async (from, to) => {
    await db.renameCollection(from, to, { dropTarget: true });
  },
  drop: async (name) => {
    await db.dropCollection(name).catch((error: { codeName?: string }) => {
      if (error.codeName !== 'NamespaceNotFound') throw error;
    });
  },
  createView: async (name, options) => {
    const { viewOn, pipeline, collation } = options as {
      viewOn?: string;
      pipeline?: object[];
      collation?: object;
    };
    await db.createCollection(name, {
      viewOn: String(viewOn),
      pipeline: pipeline ?? [],
      ...(collation ? { collation: collation as never } : {}),
    });
  },
  readMarker: async () => {
    const found = await db
      .collection<{ _id: string } & RestoreMarker>(MARKER_COLLECTION)
      .findOne({ _id: MARKER_ID });
    return found ? { restoreId: found.restoreId, collections: found.collections } : undefined;
  },
  writeMarker: async (marker) => {
    await db
      .collection<{ _id: string } & RestoreMarker>(MARKER_COLLECTION)
      .replaceOne({ _id: MARKER_ID }, { ...marker }, { upsert: true });
  },
  dropMarker: async () => {
    await db.dropCollection(MARKER_COLLECTION).catch((error: { codeName?: string }) => {
      if (error.codeName !== 'NamespaceNotFound') throw error;
    });
  },
});
