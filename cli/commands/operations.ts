import type { Operation } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { int, str } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { exitCodeOf, follow } from '../wait.ts';

const operationRow = (operation: Operation) => ({
  id: operation.id,
  type: operation.type,
  status: operation.status,
  step: operation.progress.step,
  percent: `${operation.progress.percent}%`,
  created: operation.createdAt,
});

export const operationRecord = (operation: Operation) =>
  record({
    ...operationRow(operation),
    addon: operation.addonId,
    backup: operation.backupId,
    import: operation.importId,
    'point in time': operation.pointInTime,
    error: operation.error ? `${operation.error.code}: ${operation.error.message}` : null,
    message: operation.message,
    started: operation.startedAt,
    completed: operation.completedAt,
  });

export const operationCommands: CommandSpec[] = [
  {
    words: ['operations', 'list'],
    args: '<addon>',
    summary: "An addon's operations, newest first",
    options: {
      limit: { type: 'string', help: '<n> page size (default 20)' },
      cursor: { type: 'string', help: '<cursor> next page' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const cursor = str(values, 'cursor');
      const page = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/operations', {
        params: {
          path: { projectId: context.project(), addonId: await context.resolveAddon(ref) },
          query: { limit: int(values, 'limit', 1, 100) ?? 20, ...(cursor ? { cursor } : {}) },
        },
      });
      context.out.result(page, () => {
        const rows = table(page.items.map(operationRow), [
          'id',
          'type',
          'status',
          'step',
          'percent',
          'created',
        ]);
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['operations', 'get'],
    args: '<operation>',
    summary:
      'One operation; the exit status says how it ended (0 completed, 1 failed, 4 aborted; 0 while in flight)',
    async run(context, { positionals: [operationId = ''] }) {
      const operation = await context.api.GET('/v1/projects/{projectId}/operations/{operationId}', {
        params: { path: { projectId: context.project(), operationId } },
      });
      context.out.result(operation, () => operationRecord(operation));
      return operation.status === 'pending' || operation.status === 'in-progress'
        ? EXIT.ok
        : exitCodeOf(operation);
    },
  },
  {
    words: ['operations', 'wait'],
    args: '<operation>',
    summary: 'Follow an operation until it ends; the exit status says how',
    async run(context, { positionals: [operationId = ''] }) {
      const started = await context.api.GET('/v1/projects/{projectId}/operations/{operationId}', {
        params: { path: { projectId: context.project(), operationId } },
      });
      const { operation, exitCode } = await follow({ ...context, wait: true }, started);
      context.out.result(operation, () => operationRecord(operation));
      return exitCode;
    },
  },
];
