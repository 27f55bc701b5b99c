import { stat } from 'node:fs/promises';
import type { Import } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import type { Context } from '../context.ts';
import { choice, flag, int, str } from '../context.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { putFileRange, sha256File } from '../upload.ts';
import { follow } from '../wait.ts';
import { confirm } from './confirm.ts';

const importRow = (item: Import) => ({
  id: item.id,
  kind: item.kind,
  status: item.status,
  format: item.format,
  size: item.sizeBytes,
  source: item.source ? `${item.source.host}:${item.source.port}/${item.source.database}` : null,
  created: item.createdAt,
});

const importRecord = (item: Import) =>
  record({
    ...importRow(item),
    compression: item.compression,
    contents: item.contents,
    sha256: item.sha256,
    operation: item.operationId,
    expires: item.expiresAt,
    error: item.error ? `${item.error.code}: ${item.error.message}` : null,
  });

type ImportParts = { partNumber: number; etag: string }[];

/** Starts an import and follows its restore operation. */
const startImport = async (
  context: Context,
  addonId: string,
  importId: string,
  body: { sha256?: string; parts?: ImportParts },
) => {
  const started = await context.api.POST(
    '/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/start',
    {
      params: { path: { projectId: context.project(), addonId, importId } },
      body,
    },
  );
  const { operation, exitCode } = await follow(context, started.operation);
  context.out.result({ import: started.import, operation }, () => `Import ${importId}: ${operation.status}`);
  return exitCode;
};

export const importCommands: CommandSpec[] = [
  {
    words: ['imports', 'list'],
    args: '<addon>',
    summary: "An addon's imports, newest first",
    options: {
      limit: { type: 'string', help: '<n> page size (default 20)' },
      cursor: { type: 'string', help: '<cursor> next page' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const cursor = str(values, 'cursor');
      const page = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/imports', {
        params: {
          path: { projectId: context.project(), addonId: await context.resolveAddon(ref) },
          query: { limit: int(values, 'limit', 1, 100) ?? 20, ...(cursor ? { cursor } : {}) },
        },
      });
      context.out.result(page, () =>
        table(page.items.map(importRow), ['id', 'kind', 'status', 'format', 'size', 'source', 'created']),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['imports', 'get'],
    args: '<addon> <import>',
    summary: 'One import',
    async run(context, { positionals: [ref = '', importId = ''] }) {
      const item = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/imports/{importId}', {
        params: {
          path: { projectId: context.project(), addonId: await context.resolveAddon(ref), importId },
        },
      });
      context.out.result(item, () => importRecord(item));
      return EXIT.ok;
    },
  },
  {
    words: ['imports', 'create'],
    args: '<addon>',
    summary:
      'Load a dump file (--file) or a running database (--live-env) into the addon, replacing its data',
    options: {
      file: {
        type: 'string',
        help: "<path> a dump backup's download (PostgreSQL, MySQL) or an RDB file (Redis)",
      },
      compression: { type: 'string', help: '<zstd|gzip> of the file (detected when absent)' },
      'live-env': { type: 'string', help: '<VAR> environment variable holding the source connection string' },
      'no-start': { type: 'boolean', help: 'create and upload only; start later with `imports start`' },
      yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const file = str(values, 'file');
      const liveEnv = str(values, 'live-env');
      if (Boolean(file) === Boolean(liveEnv))
        throw usageError('give exactly one of --file <path> or --live-env <VAR>');
      const addonId = await context.resolveAddon(ref);
      const path = { projectId: context.project(), addonId };
      if (!flag(values, 'no-start')) await confirm(values, `Replace the data of ${ref} with the import?`);
      if (liveEnv) {
        // The connection string holds a password: it comes from the environment, never argv.
        const connectionString = process.env[liveEnv];
        if (!connectionString) throw usageError(`${liveEnv} is not set`);
        const created = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/imports', {
          params: { path },
          body: { kind: 'live', connectionString },
        });
        if (flag(values, 'no-start')) {
          context.out.result(created, () => importRecord(created.import));
          return EXIT.ok;
        }
        return startImport(context, addonId, created.import.id, {});
      }
      const filePath = file ?? '';
      const size = await stat(filePath).then(
        (stats) => stats.size,
        (error: Error) => {
          throw new CliError(`Cannot read ${filePath}: ${error.message}`, EXIT.local);
        },
      );
      const compression = choice(values, 'compression', ['zstd', 'gzip'] as const);
      const sha256 = await sha256File(filePath);
      const created = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/imports', {
        params: { path },
        body: { kind: 'upload', sizeBytes: size, ...(compression ? { compression } : {}) },
      });
      if (!('uploadHeaders' in created))
        throw new CliError('The API answered an upload without its URL', EXIT.api);
      context.out.info(`Uploading ${filePath} (${size} bytes) for import ${created.import.id}`);
      let parts: ImportParts | undefined;
      if (created.multipart) {
        const { partSizeBytes } = created.multipart;
        parts = [];
        for (const part of created.multipart.parts) {
          const start = (part.partNumber - 1) * partSizeBytes;
          const etag = await putFileRange(part.url, filePath, start, part.sizeBytes);
          parts.push({ partNumber: part.partNumber, etag });
        }
      } else if (created.uploadUrl) {
        await putFileRange(created.uploadUrl, filePath, 0, size, created.uploadHeaders);
      } else {
        throw new CliError('The API answered an upload without its URL', EXIT.api);
      }
      if (flag(values, 'no-start')) {
        context.out.result(
          created.import,
          () =>
            `${importRecord(created.import)}\nStart it with: addons imports start ${addonId} ${created.import.id} --sha256 ${sha256}`,
        );
        return EXIT.ok;
      }
      return startImport(context, addonId, created.import.id, { sha256, ...(parts ? { parts } : {}) });
    },
  },
  {
    words: ['imports', 'start'],
    args: '<addon> <import>',
    summary: 'Start (or retry) an import',
    options: {
      sha256: { type: 'string', help: '<hex> refuse the file unless it has this SHA-256' },
      yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' },
    },
    async run(context, { positionals: [ref = '', importId = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      await confirm(values, `Replace the data of ${ref} with import ${importId}?`);
      const sha256 = str(values, 'sha256');
      return startImport(context, addonId, importId, sha256 ? { sha256 } : {});
    },
  },
  {
    words: ['imports', 'abort'],
    args: '<addon> <import>',
    summary: 'Abort a running import (the addon keeps its data)',
    async run(context, { positionals: [ref = '', importId = ''] }) {
      const item = await context.api.POST(
        '/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/abort',
        {
          params: {
            path: { projectId: context.project(), addonId: await context.resolveAddon(ref), importId },
          },
        },
      );
      context.out.result(item, () => importRecord(item));
      return EXIT.ok;
    },
  },
];
