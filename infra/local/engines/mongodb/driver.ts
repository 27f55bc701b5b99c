import fs from 'node:fs/promises';
import path from 'node:path';
import type { TargetOffer } from '#shared/catalog/engines.ts';
import type { FieldIssue } from '#shared/errors.ts';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { EngineDriver, InstanceContext, Probe, StartFailure } from '../driver.ts';
import { settlingAccess } from '../settle-access.ts';
import { localTargetIssues, nameFieldIssues, passwordIssues, rejectIssues } from '../spec-checks.ts';
import { engineEnv, isRoot, serverFromPidFile } from '../system.ts';
import {
  checkNoOtherUsers,
  ensurePlatformUser,
  PLATFORM_ROLE,
  RESERVED_DATABASES,
  settleCustomer,
} from './accounts.ts';
import { mongodOffer, serverBinary, serverMajor } from './binaries.ts';
import { platformRoleOf, probeMongod, withClient } from './connect.ts';

/** Written by mongod in its data directory: its pid while it runs, emptied at a clean shutdown. */
export const LOCK_FILE = 'mongod.lock';
const MAX_USERNAME = 64;
const MAX_DATABASE = 63;

/**
 * MongoDB database names may not contain `/\. "$*<>:|?`; the platform keeps to letters, digits,
 * underscores and hyphens, and never mongod's own databases. User names: no restriction in
 * MongoDB, but they travel in URIs: letters, digits, `_`, `-`, `.`.
 */
export const nameIssues = (spec: InstanceSpec): FieldIssue[] => {
  return [
    ...nameFieldIssues('username', spec.username, {
      reserved: spec.username.toLowerCase() === PLATFORM_ROLE,
      pattern: /^[A-Za-z0-9_.-]+$/,
      max: MAX_USERNAME,
      allowed: 'letters, digits, dots, underscores or hyphens',
    }),
    ...nameFieldIssues('database', spec.database, {
      reserved: RESERVED_DATABASES.includes(spec.database.toLowerCase()),
      pattern: /^[A-Za-z0-9_-]+$/,
      max: MAX_DATABASE,
      allowed: 'letters, digits, underscores or hyphens',
    }),
  ];
};

/**
 * The local MongoDB engine: the machine's user-installed `mongod` (see binaries.ts), one
 * single-node server per addon (no replica set, so no keyfile), with access control on,
 * listening on 127.0.0.1 only, running as the instance's own OS user (the supervisor spawns it
 * with that uid). Everything is on the command line: the machine's /etc/mongod.conf never applies.
 * No local snapshots (the catalog says why): `snapshots` stays undefined.
 */
export class MongodDriver implements EngineDriver {
  readonly engine = 'mongodb' as const;
  readonly displayName = 'MongoDB';
  readonly platformRole = PLATFORM_ROLE;
  // SIGTERM: mongod's clean shutdown (a WiredTiger checkpoint). Immediate is SIGKILL: the next
  // start recovers from the journal (writes acknowledged with j: true are kept).
  readonly signals = { graceful: 'SIGTERM', immediate: 'SIGKILL' } as const;

  catalogOffer(): Promise<TargetOffer> {
    return mongodOffer();
  }

  async checkSupported(spec: InstanceSpec): Promise<void> {
    const major = await serverMajor();
    rejectIssues('MongoDB', [
      ...localTargetIssues(spec, major, `the local target runs MongoDB ${major}`),
      ...nameIssues(spec),
      ...passwordIssues(spec, /[\0]/),
    ]);
  }

  /** mongod makes its files at first start in the empty data directory; nothing to prepare. */
  async initialise(ctx: InstanceContext): Promise<void> {
    this.assertUnprivileged(ctx);
    await serverBinary();
  }

  async serverCommand(ctx: InstanceContext) {
    this.assertUnprivileged(ctx);
    const binary = await serverBinary();
    return { command: binary, args: serverArgs(ctx), env: engineEnv() };
  }

  /** The platform's user (localhost exception), then the customer's; no one else. */
  async bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    try {
      await ensurePlatformUser(ctx);
      await withClient(ctx, async (client) => {
        await settleCustomer(client, {
          username: spec.username,
          database: spec.database,
          password: spec.password,
        });
        await checkNoOtherUsers(client, this.allowedUsers(ctx));
      });
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError(`Could not create the users of the MongoDB instance: ${errorMessage(error)}`);
    }
  }

  async settleAccess(ctx: InstanceContext): Promise<void> {
    const { username, database } = ctx.record;
    await settlingAccess('users', () =>
      withClient(ctx, async (client) => {
        await settleCustomer(client, { username, database });
        await checkNoOtherUsers(client, this.allowedUsers(ctx));
      }),
    );
  }

  probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe> {
    return probeMongod(ctx, timeoutMs);
  }

  findLeftover(ctx: InstanceContext): Promise<number | undefined> {
    return serverFromPidFile(ctx.dataDir, LOCK_FILE);
  }

  async clearStaleLocks(ctx: InstanceContext): Promise<void> {
    // A dead server's lock file still holds its pid; mongod (WiredTiger) recovers from the journal
    // whatever the file says, and removing it keeps findLeftover from reading a reused pid.
    await fs.rm(path.join(ctx.dataDir, LOCK_FILE), { force: true });
  }

  classifyStartFailure(logTail: string): StartFailure {
    return classifyMongodStart(logTail);
  }

  private allowedUsers(ctx: InstanceContext) {
    return [
      { user: platformRoleOf(ctx).username, db: 'admin' },
      { user: ctx.record.username, db: ctx.record.database },
    ];
  }

  /** As root, the engine runs as the instance's own user; never as root itself. */
  private assertUnprivileged(ctx: InstanceContext): void {
    if (isRoot() && !ctx.runAs) {
      throw new ProviderError(
        `Instance ${ctx.resourceId} has no unprivileged OS user to run MongoDB as`,
        'EngineUserMissing',
      );
    }
  }
}

/**
 * mongod's arguments for the instance as instance.json says:
 * - `--auth`: access control on; no `--replSet`, so no keyfile (a single node needs none).
 * - `--nounixsocket`: no socket in the machine's /tmp; clients and the platform use TCP on 127.0.0.1.
 * - `--wiredTigerCacheSizeGB 0.25`: the smallest cache, for a developer's machine running several
 *   addons (the default takes half of the machine's memory per server).
 * - no FTDC (`diagnosticDataCollectionEnabled=false`): no diagnostic.data directory growing beside the data.
 */
export const serverArgs = (ctx: InstanceContext): string[] => [
  '--dbpath',
  ctx.dataDir,
  '--port',
  String(ctx.record.port),
  '--bind_ip',
  ctx.record.host,
  '--auth',
  '--nounixsocket',
  '--wiredTigerCacheSizeGB',
  '0.25',
  '--setParameter',
  'diagnosticDataCollectionEnabled=false',
];

/**
 * From mongod's JSON log: "Error setting up listener" ... "Address already in use" is another
 * process on the port; "DBPathInUse" / "Unable to lock the lock file" is a server still exiting
 * on this data directory (retry). Anything else is a lasting failure.
 */
export const classifyMongodStart = (logTail: string): StartFailure => {
  if (/DBPathInUse|Unable to lock the lock file/i.test(logTail)) return 'transient';
  if (/Address already in use/i.test(logTail)) return 'port-in-use';
  return 'fatal';
};
