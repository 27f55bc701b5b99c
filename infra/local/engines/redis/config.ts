import { createHash } from 'node:crypto';
import path from 'node:path';
import type { InstanceContext, PlatformRole } from '../driver.ts';
import { REPLICATION_USER, replicationPassword } from '../logins.ts';
import { instanceSocketPath } from '../system.ts';

/**
 * The configuration of a local Redis instance. `run/redis.conf` is written again at every start
 * from instance.json (port, paths, the platform's user), so it never drifts from the record; it
 * includes `run/customer.acl`, written once at creation, because the customer's password lives in
 * the connection-detail store only and its hash is all the instance keeps. Both files are in the
 * instance's `run/` (0700, the engine user's) and 0600: the server reads them, nobody else.
 * Accounts change only with a restart (no `aclfile`: `ACL SAVE` has nowhere to write; a
 * `CONFIG REWRITE`, the platform's user's alone, is overwritten at the next start), which suits
 * an instance whose accounts never change.
 *
 * Users (Redis ACL):
 * - `default` (what an unauthenticated connection is): off, no password, no commands. Every
 *   client must AUTH; an unauthenticated command answers `-NOAUTH`.
 * - the platform's user (`addons_platform`): every command, key and channel; its password is in
 *   instance.json only. Redis cannot tie a user to the Unix socket, so it is reachable over TCP
 *   on 127.0.0.1 too, guarded by its password alone.
 * - the customer's user: every key and channel and every command but the administrative and
 *   dangerous ones (CONFIG, ACL, SHUTDOWN, DEBUG, MODULE, MONITOR, SAVE, BGREWRITEAOF, REPLICAOF,
 *   CLIENT KILL/LIST, MIGRATE, RESTORE...). Given back, because an application or a developer
 *   expects them of a database they own: FLUSHDB, FLUSHALL, KEYS, SORT, SORT_RO, SWAPDB and INFO.
 * - the replication user (`addons_replication`): what a replica runs on its primary (PSYNC,
 *   REPLCONF, PING) and nothing else, with a password derived from the platform's (logins.ts).
 */

/** The replication user's ACL line: what a replica needs of its primary, no keys. */
export const replicationAcl = (admin: PlatformRole): string[] => [
  REPLICATION_USER,
  'reset',
  'on',
  passwordHash(replicationPassword(admin)),
  '-@all',
  '+psync',
  '+replconf',
  '+ping',
];

export const PLATFORM_ROLE = 'addons_platform';

/** User names the customer's must not take: Redis's own, the platform's. */
export const RESERVED_USERNAMES = ['default', PLATFORM_ROLE, REPLICATION_USER];

/** What the customer's user may run: everything but @admin and @dangerous, with the data commands of @dangerous given back. */
export const CUSTOMER_COMMANDS = [
  '+@all',
  '-@admin',
  '-@dangerous',
  '+flushdb',
  '+flushall',
  '+keys',
  '+sort',
  '+sort_ro',
  '+swapdb',
  '+info',
];

/**
 * The memory limit of an instance created before plans sized local servers (its record has no
 * `memoryMiB`): what every local server had then.
 */
export const LEGACY_MAX_MEMORY_MIB = 64;

/**
 * `maxmemory`: the plan's memory, as on AWS (a `cache.t4g.micro` has 0.5 GiB), so what fits in
 * a plan locally fits there. Redis counts the dataset and its own buffers against it (not the
 * copy-on-write pages of a BGSAVE child). `noeviction`: a full instance refuses writes with an
 * OOM error rather than silently dropping keys, as a database should.
 */
export const maxMemoryOf = (ctx: InstanceContext): string =>
  `${ctx.record.memoryMiB ?? LEGACY_MAX_MEMORY_MIB}mb`;

/** Written by the server in its data directory, removed when it exits cleanly. */
export const PID_FILE = 'redis.pid';

export const confPath = (ctx: InstanceContext): string => path.join(ctx.socketDir, 'redis.conf');
export const customerAclPath = (ctx: InstanceContext): string => path.join(ctx.socketDir, 'customer.acl');

/** The server's Unix socket in the instance's `run/`: the platform's way in. */
export const socketPath = (ctx: InstanceContext): string => instanceSocketPath(ctx.socketDir, 'redis.sock');

/** A password as Redis stores it: `#` and the hex SHA-256, so no file holds it in clear. */
export const passwordHash = (password: string): string =>
  `#${createHash('sha256').update(password, 'utf8').digest('hex')}`;

/** The customer's user, as `customer.acl` holds it: two passwords while a rotation is open. */
export const customerAcl = (username: string, ...passwords: string[]): string =>
  `user ${username} reset on ${passwords.map(passwordHash).join(' ')} ~* &* ${CUSTOMER_COMMANDS.join(' ')}\n`;

/** The password hashes `customer.acl` lets in (the `#<sha256>` tokens of its one line). */
export const aclHashes = (acl: string): string[] =>
  acl.split(/\s+/).filter((token) => /^#[0-9a-f]{64}$/.test(token));

/** A value in redis.conf: quoted, so a path with spaces stays one argument. */
export const quoted = (value: string): string => `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;

/**
 * The instance's port: plain, or with TLS required (PATCH networking) TLS only, with the
 * certificate the data directory's CA signs (`tls.ts`). Clients are not asked for certificates of
 * their own; they authenticate with their ACL user. Redis has no per-source rules, so the
 * instance never listens beyond 127.0.0.1 (the catalog's publicAccess is off locally).
 */
const portLines = (ctx: InstanceContext, certificate?: { certificate: string; key: string }): string[] =>
  certificate
    ? [
        'port 0',
        `tls-port ${ctx.record.port}`,
        `tls-cert-file ${quoted(certificate.certificate)}`,
        `tls-key-file ${quoted(certificate.key)}`,
        'tls-auth-clients no',
        'tls-protocols "TLSv1.2 TLSv1.3"',
      ]
    : [`port ${ctx.record.port}`];

/** The whole of redis.conf for the instance as `ctx.record` describes it (`tlsFiles` while TLS is required). */
export const serverConf = (
  ctx: InstanceContext,
  admin: PlatformRole,
  tlsFiles?: { certificate: string; key: string },
): string =>
  [
    '# Written by the addons platform at every start: changes here are lost.',
    `bind ${ctx.record.host}`,
    ...portLines(ctx, tlsFiles),
    'protected-mode yes',
    `unixsocket ${quoted(socketPath(ctx))}`,
    'unixsocketperm 700',
    'daemonize no',
    'supervised no',
    `pidfile ${quoted(path.join(ctx.dataDir, PID_FILE))}`,
    // Server output goes to stdout, which the supervisor appends to server.log.
    'logfile ""',
    'loglevel notice',
    `dir ${quoted(ctx.dataDir)}`,
    // Durability from the append-only file alone (Redis 7: an RDB base plus incremental files in
    // appendonlydir/), at most a second of writes lost on a crash; no RDB save points besides.
    'appendonly yes',
    'appendfsync everysec',
    'aof-use-rdb-preamble yes',
    'save ""',
    `maxmemory ${maxMemoryOf(ctx)}`,
    'maxmemory-policy noeviction',
    'databases 16',
    'maxclients 1000',
    // A new replica's full synchronisation starts at once (Redis waits 5 s for more by default).
    'repl-diskless-sync-delay 0',
    // Defaults in 7.0, written down: none of these can be reached at run time.
    'enable-protected-configs no',
    'enable-debug-command no',
    'enable-module-command no',
    'user default reset off resetpass -@all',
    `user ${admin.username} reset on ${passwordHash(admin.password)} ~* &* +@all`,
    `user ${replicationAcl(admin).join(' ')}`,
    `include ${quoted(customerAclPath(ctx))}`,
    '',
  ].join('\n');
