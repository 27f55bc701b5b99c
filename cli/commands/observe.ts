import type { components } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { choice, int, many, str } from '../context.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { follow } from '../wait.ts';

type NetworkingRequest = components['schemas']['NetworkingRequest'];
type EventType = components['schemas']['Event']['type'];

const EVENT_TYPES: readonly EventType[] = [
  'operation.created',
  'operation.completed',
  'operation.failed',
  'operation.aborted',
  'backup-health.degraded',
  'backup-health.recovered',
  'alert.firing',
  'alert.resolved',
  'storage.full',
  'storage.writable',
];

const onOff = (value: 'on' | 'off' | undefined) => (value === undefined ? undefined : value === 'on');

/** The last value of a series that has one (null steps skipped), with the time it was taken. */
const lastValue = (timestamps: string[], values: (number | null)[]) => {
  for (let index = values.length - 1; index >= 0; index--) {
    const value = values[index];
    if (value !== null && value !== undefined) return { value, at: timestamps[index] ?? null };
  }
  return { value: null, at: null };
};

/** Networking, metrics and events: how an addon is reached and what it and the project did. */
export const observeCommands: CommandSpec[] = [
  {
    words: ['networking'],
    args: '<addon>',
    summary: 'Change how an addon is reached: TLS, public access and its allowed CIDRs; follows the change',
    options: {
      tls: { type: 'string', help: '<on|off> require TLS' },
      public: { type: 'string', help: '<on|off> reachable from outside, from --allow only (needs TLS)' },
      allow: { type: 'string', multiple: true, help: '<CIDR> an allowed source (repeat; replaces the list)' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const tls = onOff(choice(values, 'tls', ['on', 'off'] as const));
      const isPublic = onOff(choice(values, 'public', ['on', 'off'] as const));
      const allow = many(values, 'allow');
      if (tls === undefined && isPublic === undefined && allow.length === 0) {
        throw usageError('give at least one of --tls on|off, --public on|off, --allow <CIDR>');
      }
      const networking: NetworkingRequest = {
        ...(tls === undefined ? {} : { tls }),
        ...(isPublic === undefined ? {} : { public: isPublic }),
        ...(allow.length > 0 ? { allow } : {}),
      };
      const addonId = await context.resolveAddon(ref);
      const changed = await context.api.PATCH('/v1/projects/{projectId}/addons/{addonId}', {
        params: { path: { projectId: context.project(), addonId } },
        body: { networking },
      });
      const { operation, exitCode } = await follow(context, changed.operation);
      const addon =
        context.wait && exitCode === EXIT.ok
          ? await context.api
              .GET('/v1/projects/{projectId}/addons/{addonId}', {
                params: { path: { projectId: context.project(), addonId } },
              })
              .catch(() => changed.addon)
          : changed.addon;
      context.out.result({ addon, operation }, () =>
        record({
          id: addon.id,
          name: addon.name,
          status: addon.status,
          tls: addon.tls,
          public: addon.publicAccess,
          allow: (addon.allowedCidrs ?? []).join(' '),
          operation: `${operation.id} (${operation.status})`,
        }),
      );
      return exitCode;
    },
  },
  {
    words: ['metrics'],
    args: '<addon>',
    summary: "An addon's time series: the last value of each with its unit (--json: every point)",
    options: {
      names: { type: 'string', help: '<a,b> metric names (default: every series of the engine)' },
      from: { type: 'string', help: '<time> window start, ISO 8601 (default: an hour before --to)' },
      to: { type: 'string', help: '<time> window end, ISO 8601 (default: now)' },
      step: { type: 'string', help: '<seconds> seconds per point (default: the smallest that fits)' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      const step = int(values, 'step', 1, 86_400);
      const names = str(values, 'names');
      const from = str(values, 'from');
      const to = str(values, 'to');
      const metrics = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/metrics', {
        params: {
          path: { projectId: context.project(), addonId },
          query: {
            ...(names ? { names } : {}),
            ...(from ? { from } : {}),
            ...(to ? { to } : {}),
            ...(step === undefined ? {} : { step }),
          },
        },
      });
      context.out.result(metrics, () => {
        const rows = metrics.series.map((series) => {
          const last = lastValue(metrics.timestamps, series.values);
          return { name: series.name, last: last.value, unit: series.unit, at: last.at };
        });
        return `${metrics.from} .. ${metrics.to}, step ${metrics.step} s\n${table(rows, ['name', 'last', 'unit', 'at'])}`;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['events'],
    args: '',
    summary: "The project's events feed, oldest first (operations started and ended, backup health)",
    options: {
      addon: { type: 'string', help: '<addon> only this addon’s events (id or name)' },
      type: { type: 'string', help: `<type> only this type: ${EVENT_TYPES.join(', ')}` },
      since: { type: 'string', help: '<time> only events at or after this time (RFC 3339)' },
      limit: { type: 'string', help: '<n> page size (default 100)' },
      cursor: { type: 'string', help: '<cursor> the page after a previous --json listing’s nextCursor' },
    },
    async run(context, { values }) {
      const ref = str(values, 'addon');
      const addonId = ref ? await context.resolveAddon(ref) : undefined;
      const type = choice(values, 'type', EVENT_TYPES);
      const since = str(values, 'since');
      const cursor = str(values, 'cursor');
      const page = await context.api.GET('/v1/projects/{projectId}/events', {
        params: {
          path: { projectId: context.project() },
          query: {
            limit: int(values, 'limit', 1, 100) ?? 100,
            ...(addonId ? { addonId } : {}),
            ...(type ? { type } : {}),
            ...(since ? { since } : {}),
            ...(cursor ? { cursor } : {}),
          },
        },
      });
      context.out.result(page, () => {
        const rows = table(
          page.items.map((event) => ({
            time: event.occurredAt,
            type: event.type,
            addon: event.addonId,
            detail: event.operation
              ? `${event.operation.type} ${event.operation.id}${event.operation.error ? `: ${event.operation.error.code}` : ''}`
              : event.backupHealth
                ? event.backupHealth.problems.map((problem) => problem.code).join(' ') ||
                  event.backupHealth.state
                : null,
          })),
          ['time', 'type', 'addon', 'detail'],
        );
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
];
