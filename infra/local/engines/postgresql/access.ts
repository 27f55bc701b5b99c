import os from 'node:os';
import path from 'node:path';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceContext } from '../driver.ts';
import { networkingOf } from '../networking.ts';
import { readFileNoFollow, replaceFile } from '../system.ts';
import { ensureServerCertificate } from '../tls.ts';
import { PLATFORM_ROLE, peerRoles } from './roles.ts';

const ACCESS_BEGIN =
  '# BEGIN addons-platform snapshot access (managed by the platform; rewritten when it differs)';
const ACCESS_END = '# END addons-platform snapshot access';
const IDENT_MAP = 'addons_platform';

/** A user name as one pg_hba.conf / pg_ident.conf token: quoted, so never a keyword, group or list. */
const confToken = (value: string): string => {
  if (!value || /["\r\n\0]/.test(value)) {
    throw new ProviderError(`The name '${value}' cannot be written in pg_hba.conf`, 'SnapshotAccess');
  }
  return `"${value}"`;
};

/** `text` without the platform's block (kept as is when the block is not well formed). */
const withoutAccessBlock = (text: string): string => {
  const lines = text.split('\n');
  const begin = lines.findIndex((line) => line.trim() === ACCESS_BEGIN);
  const end = lines.findIndex((line, index) => index > begin && line.trim() === ACCESS_END);
  if (begin < 0 || end < 0) return text;
  return withoutAccessBlock([...lines.slice(0, begin), ...lines.slice(end + 1)].join('\n'));
};

/**
 * Who may connect over TCP (first match): with TLS required, any connection without it is
 * rejected; then 127.0.0.1 (the platform, its jobs and local clients: the private details), and
 * while public each allowed CIDR; anything else is rejected, so another loopback address
 * (127.0.0.2) is refused too unless allowed. Passwords (SCRAM) on every accepted line.
 */
const tcpRules = (ctx: InstanceContext, fenced = false): string[] => {
  // While an upgrade copies the data: nobody over TCP, so no write is made that the copy misses.
  if (fenced)
    return ['# TCP: closed while the platform copies the data (upgrade)', 'host   all   all   all   reject'];
  const { tls, public: open, allow } = networkingOf(ctx.record);
  const sources = ['127.0.0.1/32', ...(open ? allow : [])];
  return [
    '# TCP: the allow list (PATCH networking); everything else is rejected',
    ...(tls ? ['hostnossl   all   all   all   reject'] : []),
    ...[...new Set(sources)].map((cidr) => `host   all   all   ${cidr}   scram-sha-256`),
    'host   all   all   all   reject',
  ];
};

/** Server settings for TLS, when the instance requires it: the certificate the data directory's CA signs. */
export const tlsSettings = async (ctx: InstanceContext): Promise<string[]> => {
  if (!networkingOf(ctx.record).tls) return [];
  const hosts = [ctx.record.host, ...(ctx.record.publicHost ? [ctx.record.publicHost] : [])];
  const files = await ensureServerCertificate(ctx, hosts);
  return [
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${files.certificate}`,
    '-c',
    `ssl_key_file=${files.key}`,
    '-c',
    'ssl_min_protocol_version=TLSv1.2',
  ];
};

/**
 * How the platform reaches its own roles without a password: `peer` over the Unix socket, mapped
 * from the platform's OS user (root, when it runs as root) and the instance's engine OS user (for
 * pg_basebackup) to the platform's superuser, and to the roles a migration from an instance older
 * than customer roles passes through (`peerRoles`). This works whatever passwords the data holds,
 * e.g. after restoring an old snapshot. The socket lives in `run/` (0700, owned by the engine
 * user; socket 0700), so only that user and root can reach it, and peer checks the connecting
 * process's uid on top. TCP rules are unchanged: every role needs its password there. The block
 * goes first, as pg_hba.conf is first-match.
 *
 * Idempotent; returns whether a file changed (the running server then needs a reload).
 */
export const grantPlatformAccess = async (
  ctx: InstanceContext,
  options: { fenced?: boolean } = {},
): Promise<boolean> => {
  const osUsers = [...new Set([os.userInfo().username, ...(ctx.runAs ? [ctx.runAs.user] : [])])];
  const admin = ctx.record.admin?.username ?? PLATFORM_ROLE;
  const roles = peerRoles(ctx);
  const hbaBlock = [
    ACCESS_BEGIN,
    '# the platform (and pg_basebackup, run as the engine OS user), over the Unix socket in run/ only',
    `local   replication   ${confToken(admin)}   peer map=${IDENT_MAP}`,
    `local   all   ${roles.map(confToken).join(',')}   peer map=${IDENT_MAP}`,
    ...tcpRules(ctx, options.fenced),
    ACCESS_END,
  ].join('\n');
  const identBlock = [
    ACCESS_BEGIN,
    ...osUsers.flatMap((osUser) =>
      roles.map((role) => `${IDENT_MAP}   ${confToken(osUser)}   ${confToken(role)}`),
    ),
    ACCESS_END,
  ].join('\n');
  const rewrite = async (name: string, next: (text: string) => string): Promise<boolean> => {
    const file = path.join(ctx.dataDir, name);
    let current: string;
    try {
      current = await readFileNoFollow(file);
    } catch (error) {
      throw new ProviderError(`Cannot read ${file}: ${errorMessage(error)}`, 'SnapshotAccess');
    }
    const wanted = next(current);
    if (wanted === current) return false;
    await replaceFile(file, wanted, ctx.runAs);
    return true;
  };
  const hba = await rewrite('pg_hba.conf', (text) => `${hbaBlock}\n${withoutAccessBlock(text)}`);
  const ident = await rewrite(
    'pg_ident.conf',
    (text) => `${withoutAccessBlock(text).trimEnd()}\n${identBlock}\n`,
  );
  return hba || ident;
};
