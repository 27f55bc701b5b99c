import type { Backup } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import type { Context } from '../context.ts';
import { choice, flag, int, str } from '../context.ts';
import { downloadVerified } from '../download.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { follow } from '../wait.ts';
import { confirm } from './confirm.ts';

const backupRow = (backup: Backup) => ({
  id: backup.id,
  addon: backup.addonName ?? backup.addonId,
  type: backup.compression ? `${backup.type} (${backup.compression})` : backup.type,
  status: backup.status,
  size: backup.sizeBytes,
  pinned: backup.pinned ? 'yes' : 'no',
  source: backup.source,
  created: backup.createdAt,
});

const backupRecord = (backup: Backup) =>
  record({
    ...backupRow(backup),
    engine: `${backup.engine} ${backup.engineVersion}`,
    sha256: backup.sha256,
    expires: backup.expiresAt,
    'addon deleted': backup.addonDeleted ? (backup.addonDeletedAt ?? 'yes') : 'no',
    error: backup.error ? `${backup.error.code}: ${backup.error.message}` : null,
    completed: backup.completedAt,
  });

/** `<addon> <backup>` as path parameters. */
const backupPath = async (context: Context, [ref = '', backupId = '']: string[]) => ({
  projectId: context.project(),
  addonId: await context.resolveAddon(ref),
  backupId,
});

const PAGE = {
  limit: { type: 'string', help: '<n> page size (default 100)' },
  cursor: { type: 'string', help: '<cursor> next page' },
} as const;

export const backupCommands: CommandSpec[] = [
  {
    words: ['backups', 'list'],
    args: '[addon]',
    summary: "An addon's backups, or with no addon the project's (deleted addons' included)",
    options: PAGE,
    async run(context, { positionals: [ref], values }) {
      const cursor = str(values, 'cursor');
      const query = { limit: int(values, 'limit', 1, 100) ?? 100, ...(cursor ? { cursor } : {}) };
      const page = ref
        ? await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/backups', {
            params: {
              path: { projectId: context.project(), addonId: await context.resolveAddon(ref) },
              query,
            },
          })
        : await context.api.GET('/v1/projects/{projectId}/backups', {
            params: { path: { projectId: context.project() }, query },
          });
      context.out.result(page, () => {
        const rows = table(page.items.map(backupRow), [
          'id',
          'addon',
          'type',
          'status',
          'size',
          'pinned',
          'source',
          'created',
        ]);
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['backups', 'create'],
    args: '<addon>',
    summary: 'Back up an addon now and follow the backup',
    options: {
      type: { type: 'string', help: '<dump|snapshot> default dump' },
      compression: { type: 'string', help: '<zstd|gzip> of a dump, default zstd' },
      pin: { type: 'boolean', help: 'retention never deletes it' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      const type = choice(values, 'type', ['dump', 'snapshot'] as const) ?? 'dump';
      const compression = choice(values, 'compression', ['zstd', 'gzip'] as const);
      if (type === 'snapshot' && compression) throw usageError('--compression applies to dumps only');
      const pinned = flag(values, 'pin');
      const started = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/backups', {
        params: { path: { projectId: context.project(), addonId } },
        body: type === 'dump' ? { type, pinned, ...(compression ? { compression } : {}) } : { type, pinned },
      });
      context.out.info(`Backing up ${ref}: backup ${started.backup.id}`);
      const { operation, exitCode } = await follow(context, started.operation);
      const backup = context.wait
        ? await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
            params: { path: { projectId: context.project(), addonId, backupId: started.backup.id } },
          })
        : started.backup;
      context.out.result({ backup, operation }, () => backupRecord(backup));
      return exitCode;
    },
  },
  {
    words: ['backups', 'get'],
    args: '<addon> <backup>',
    summary: 'One backup',
    async run(context, { positionals }) {
      const backup = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
        params: { path: await backupPath(context, positionals) },
      });
      context.out.result(backup, () => backupRecord(backup));
      return EXIT.ok;
    },
  },
  {
    words: ['backups', 'download'],
    args: '<addon> <backup>',
    summary: "Download a backup's file, verified against its SHA-256",
    options: {
      output: { type: 'string', short: 'o', help: '<file> where to write it (default: <backup id>.<ext>)' },
    },
    async run(context, { positionals, values }) {
      const path = await backupPath(context, positionals);
      const backup = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
        params: { path },
      });
      const link = await context.api.POST(
        '/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/download',
        {
          params: { path },
        },
      );
      const extension = backup.compression === 'zstd' ? '.zst' : backup.compression === 'gzip' ? '.gz' : '';
      const file =
        str(values, 'output') ??
        `${backup.id}${backup.type === 'snapshot' ? '.snapshot' : '.dump'}${extension}`;
      const expected = backup.sha256 ?? link.sha256;
      const bytes = await downloadVerified(link.url, file, expected);
      const result = { file, sizeBytes: bytes, sha256: expected, verified: true };
      context.out.result(result, () => `Wrote ${file} (${bytes} bytes, SHA-256 ${expected} verified)`);
      return EXIT.ok;
    },
  },
  {
    words: ['backups', 'restore'],
    args: '<addon> <backup>',
    summary: "Restore the addon to the backup (its data becomes exactly the backup's)",
    options: { yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' } },
    async run(context, { positionals, values }) {
      const path = await backupPath(context, positionals);
      await confirm(values, `Replace the data of ${positionals[0]} with backup ${path.backupId}?`);
      const started = await context.api.POST(
        '/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/restore',
        {
          params: { path },
        },
      );
      const { operation, exitCode } = await follow(context, started.operation);
      context.out.result(
        { backup: started.backup, operation },
        () => `Restore from ${path.backupId}: ${operation.status}`,
      );
      return exitCode;
    },
  },
  {
    words: ['backups', 'abort'],
    args: '<addon> <backup>',
    summary: 'Abort a pending or running backup (its partial data is removed)',
    async run(context, { positionals }) {
      const backup = await context.api.POST(
        '/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/abort',
        {
          params: { path: await backupPath(context, positionals) },
        },
      );
      context.out.result(backup, () => backupRecord(backup));
      return EXIT.ok;
    },
  },
  ...(['pin', 'unpin'] as const).map(
    (action): CommandSpec => ({
      words: ['backups', action],
      args: '<addon> <backup>',
      summary:
        action === 'pin'
          ? 'Pin a backup: retention never deletes it'
          : 'Unpin a backup: retention applies again',
      async run(context, { positionals }) {
        const backup = await context.api.PATCH(
          '/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}',
          {
            params: { path: await backupPath(context, positionals) },
            body: { pinned: action === 'pin' },
          },
        );
        context.out.result(backup, () => backupRecord(backup));
        return EXIT.ok;
      },
    }),
  ),
  {
    words: ['backups', 'delete'],
    args: '<addon> <backup>',
    summary: 'Delete a backup and its data',
    options: { yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' } },
    async run(context, { positionals, values }) {
      const path = await backupPath(context, positionals);
      await confirm(values, `Delete backup ${path.backupId}?`);
      await context.api.DELETE('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
        params: { path },
      });
      context.out.result({ deleted: path.backupId }, () => `Deleted ${path.backupId}`);
      return EXIT.ok;
    },
  },
  {
    words: ['backups', 'export'],
    args: '<addon> <backup>',
    summary: "Copy a backup's file to your S3 bucket (under <project>/) and verify its SHA-256 there",
    options: {
      bucket: { type: 'string', help: '<bucket> your S3 bucket' },
      prefix: { type: 'string', help: '<prefix> key prefix inside <project>/' },
    },
    async run(context, { positionals, values }) {
      const bucket = str(values, 'bucket');
      if (!bucket) throw usageError('--bucket <bucket> is required');
      const prefix = str(values, 'prefix');
      const started = await context.api.POST(
        '/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/export',
        {
          params: { path: await backupPath(context, positionals) },
          body: { bucket, ...(prefix ? { prefix } : {}) },
        },
      );
      const { operation, exitCode } = await follow(context, started.operation);
      context.out.result({ backup: started.backup, operation }, () =>
        operation.export
          ? record({
              bucket: operation.export.bucket,
              key: operation.export.key,
              sha256: operation.export.sha256,
            })
          : `Export: ${operation.status}`,
      );
      return exitCode;
    },
  },
];
