import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from '#shared/errors.ts';
import { isRoot, type RunAs } from './system.ts';

/**
 * One operating-system user per instance when the platform runs as root: an engine that a
 * customer manages to turn against its host (a bug, an extension) then reaches its own files
 * only, never another addon's data or snapshots. Not root: engines run as the platform's user.
 */

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const exec = (command: string, args: string[]): Promise<ExecResult> =>
  new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (error ? error.message : '') });
    });
  });

/** useradd, userdel and groupdel exit codes (shadow-utils). */
const EXIT = { cannotLock: 10, userExists: 9, noSuchUser: 6 } as const;

/**
 * Users this process found or created, by name. Every operation on an instance asks for its user
 * (the storage guard, archiving, snapshots, each restore step), and a `getent` is a process
 * spawned from the platform's event loop: under load those spawns were the largest cost on it.
 * A user leaves the map when this process removes it.
 */
const knownUsers = new Map<string, RunAs>();

const queryUser = async (name: string): Promise<RunAs | undefined> => {
  const { code, stdout } = await exec('getent', ['passwd', name]);
  if (code !== 0) return undefined;
  const [, , uid, gid] = stdout.trim().split(':');
  if (uid === undefined || gid === undefined) return undefined;
  return { user: name, uid: Number(uid), gid: Number(gid) };
};

const lookupUser = async (name: string): Promise<RunAs | undefined> => {
  const known = knownUsers.get(name);
  if (known) return known;
  const user = await queryUser(name);
  if (user) knownUsers.set(name, user);
  return user;
};

/**
 * `addon-` and 12 hex digits of the resource id's SHA-256: Linux user names stop at 32
 * characters, and resource ids reach 63.
 */
export const instanceUserName = (resourceId: string): string =>
  `addon-${createHash('sha256').update(resourceId).digest('hex').slice(0, 12)}`;

/** useradd/userdel of this process, one at a time: they lock /etc/passwd and fail when it is taken. */
let accountChanges: Promise<unknown> = Promise.resolve();
const serially = <T>(fn: () => Promise<T>): Promise<T> => {
  const next = accountChanges.then(fn, fn);
  accountChanges = next.catch(() => undefined);
  return next;
};

/** Another process (a package install, another platform) may hold the lock for a moment. */
const retryLocked = async (command: string, args: string[]): Promise<ExecResult> => {
  for (let attempt = 1; ; attempt++) {
    const result = await exec(command, args);
    if (result.code !== EXIT.cannotLock || attempt >= 20) return result;
    await sleep(100 * attempt);
  }
};

/**
 * The OS user of one instance (root only; `undefined` otherwise): a system user with its own
 * group, no home and no login shell, created when the machine lacks it.
 */
export const instanceUser = async (resourceId: string): Promise<RunAs | undefined> => {
  if (!isRoot()) return undefined;
  const name = instanceUserName(resourceId);
  const existing = await lookupUser(name);
  if (existing) return checkUnprivileged(existing);
  const result = await serially(() =>
    retryLocked('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      '--comment',
      `Local addons engine of ${resourceId}`,
      name,
    ]),
  );
  // Another process may have created it between our lookup and useradd: look again.
  const created = await lookupUser(name);
  if (created) return checkUnprivileged(created);
  throw new ProviderError(
    `Database engines cannot run as root and the system user '${name}' could not be created ` +
      `(${result.stderr.trim() || `useradd exited with ${result.code}`}); run the platform as a non-root user, ` +
      'or give it a machine where useradd works',
    'EngineUserMissing',
  );
};

/** Remove the OS user of a deleted instance (root only). A user already gone is fine. */
export const removeInstanceUser = async (resourceId: string): Promise<void> => {
  if (!isRoot()) return;
  const name = instanceUserName(resourceId);
  knownUsers.delete(name);
  if (!(await queryUser(name))) return;
  const result = await serially(() => retryLocked('userdel', [name]));
  if (result.code !== 0 && result.code !== EXIT.noSuchUser) {
    throw new ProviderError(
      `Could not remove the system user '${name}' of instance ${resourceId}: ${result.stderr.trim() || `userdel exited with ${result.code}`}`,
      'EngineUserRemoval',
    );
  }
  // With USERGROUPS_ENAB userdel removes the user's group; without it the group stays behind.
  await serially(() => retryLocked('groupdel', [name]));
};

const checkUnprivileged = (user: RunAs): RunAs => {
  if (user.uid === 0) {
    throw new ProviderError(
      `The system user '${user.user}' has uid 0; database engines need an unprivileged user`,
    );
  }
  return user;
};

/** Give `target` and everything under it to `owner` (symbolic links themselves, never their targets). */
export const chownTree = async (target: string, owner: { uid: number; gid: number }): Promise<void> => {
  const stat = await fs.lstat(target);
  if (stat.isDirectory()) {
    for (const name of await fs.readdir(target)) await chownTree(path.join(target, name), owner);
  }
  if (stat.uid !== owner.uid || stat.gid !== owner.gid) await fs.lchown(target, owner.uid, owner.gid);
};

/** Whether `target` belongs to `owner` already (a quick check before a whole-tree chown). */
export const ownedBy = async (target: string, owner: { uid: number }): Promise<boolean> =>
  (await fs.lstat(target)).uid === owner.uid;
