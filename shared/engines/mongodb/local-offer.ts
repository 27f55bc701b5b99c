import type { Capabilities } from '../../schemas/catalog.ts';
import { NO_CAPABILITIES } from '../engine-facts.ts';

/**
 * Where the local target looks for MongoDB's programs (infra/local/engines/mongodb/binaries.ts,
 * shared/jobs/mongodb/tools.ts): `ADDONS_MONGOD` names the server binary itself,
 * `ADDONS_MONGODB_BIN_DIR` a directory holding `mongod` and/or the Database Tools; PATH after both.
 */
export const MONGOD_VARIABLE = 'ADDONS_MONGOD';
export const MONGODB_BIN_DIR_VARIABLE = 'ADDONS_MONGODB_BIN_DIR';

/** What to install for dumps and restores, as MissingToolError names it. */
export const DATABASE_TOOLS = 'MongoDB Database Tools (mongodump, mongorestore)';
export const DATABASE_TOOLS_INSTALL =
  `install them from MongoDB's official .deb or tarball (https://www.mongodb.com/try/download/database-tools; not packaged by Debian), ` +
  `then put them on PATH or in the directory ${MONGODB_BIN_DIR_VARIABLE} names`;

/** How to get a mongod, in the catalog note and in the 422 of a create on a machine without one. */
export const MONGOD_INSTALL_HINT =
  `MongoDB is not packaged for Debian 12 and cannot be downloaded at run time: install MongoDB Community Server ` +
  `from MongoDB's official .deb or tarball (https://www.mongodb.com/try/download/community), then put mongod on PATH, ` +
  `or name the binary with ${MONGOD_VARIABLE}=/path/to/mongod (or its directory with ${MONGODB_BIN_DIR_VARIABLE}), ` +
  `and restart the platform. Dump backups also need the ${DATABASE_TOOLS}.`;

/** The catalog note of a machine without a usable mongod (`problem`: the one found does not run). */
const unavailableNote = (problem: string): string =>
  `MongoDB addons are not available on this machine: the mongod found does not run (${problem.slice(0, 300)}). ${MONGOD_INSTALL_HINT}`;

/** The local catalog notes until the platform has looked for a mongod. */
export const MONGOD_MISSING_NOTE = `MongoDB addons are not available on this machine: no mongod was found. ${MONGOD_INSTALL_HINT}`;

/**
 * The local catalog on a machine without a usable mongod: nothing offered, and the note says how
 * to fix that. `problem`: a mongod was found but could not run (`--version` failed).
 */
export const localUnavailable = (
  problem?: string,
): { versions: string[]; defaultVersion: string; capabilities: Capabilities; notes: string[] } => ({
  versions: ['7.0'],
  defaultVersion: '7.0',
  capabilities: NO_CAPABILITIES,
  notes: [problem ? unavailableNote(problem) : MONGOD_MISSING_NOTE],
});

/** The local offer once the platform found a mongod (`major` as `mongod --version` says: `7.0`, `8.0`). */
export const localOfferWith = (
  major: string,
  binary: string,
): { versions: string[]; defaultVersion: string; capabilities: Capabilities; notes: string[] } => ({
  versions: [major],
  defaultVersion: major,
  capabilities: { ...NO_CAPABILITIES, provision: true, dumpBackup: true },
  notes: [
    `The local target runs the mongod found on this machine (${binary.slice(0, 300)}, MongoDB ${major}), one single-node server per addon with access control on; the connection details name a user with readWrite and dbAdmin on the addon's database only, which is also its authSource.`,
    `Dump backups are mongodump archives and need the ${DATABASE_TOOLS} on PATH or in ${MONGODB_BIN_DIR_VARIABLE}. A restore loads the dump beside the live collections and then renames each over its original: every collection switches atomically, the database as a whole does not (see the README).`,
    'Snapshot backups are not offered locally: mongod has no online physical copy of its files without filesystem snapshots or fsyncLock, which would stop writes for the length of the copy. Use dump backups.',
    'TLS, public access and networking changes (networkingUpdate) are not available for local MongoDB addons: the user-installed mongod is run without certificates, and MongoDB has no per-source host rules for an allow list. Read replicas are not built locally for this engine (PostgreSQL, MySQL and Redis have them). Local addons listen on 127.0.0.1.',
    'Imports (importDump, importLive) are not available for MongoDB addons yet: a live import needs a restore that replaces the database all or nothing, which the collection-by-collection restore does not give.',
    "Credential rotation (credentialRotation) is not available for MongoDB addons yet: the local driver has no second login for the addon's user.",
    'Plan changes (scaling) are not available for local MongoDB addons yet: the plan would set the WiredTiger cache size of the user-installed mongod, which is not done. Multi-AZ (multiAz) is AWS-only.',
    'Upgrades (upgrade) are not available locally: one version installed locally (the mongod found on this machine).',
  ],
});
