import type { Addon, CreateAddonRequest } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { choice, flag, int, str } from '../context.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { follow } from '../wait.ts';
import { confirm } from './confirm.ts';

const ENGINES = ['postgresql', 'mysql', 'redis', 'mongodb'] as const;

const addonRow = (addon: Addon) => ({
  id: addon.id,
  name: addon.name,
  engine: `${addon.engine} ${addon.version}`,
  plan: addon.plan,
  status: addon.status,
  endpoint: addon.endpoint ? `${addon.endpoint.host}:${addon.endpoint.port}` : null,
});

const addonRecord = (addon: Addon) =>
  record({
    ...addonRow(addon),
    description: addon.description,
    storage: `${addon.storageGiB} GiB`,
    replicas: addon.replicas,
    tls: addon.tls,
    'public access': addon.publicAccess,
    operation: addon.currentOperationId,
    'restorable window': addon.restorableWindow
      ? `${addon.restorableWindow.earliestRestorableTime} .. ${addon.restorableWindow.latestRestorableTime}`
      : null,
    'forked from':
      addon.source && 'addonId' in addon.source
        ? `${addon.source.addonName} (${addon.source.addonId}) ${addon.source.backupId ?? addon.source.pointInTime ?? ''}`
        : null,
    'imported from':
      addon.source && 'importId' in addon.source
        ? `${addon.source.kind} import ${addon.source.importId}`
        : null,
    created: addon.createdAt,
  });

export const addonCommands: CommandSpec[] = [
  {
    words: ['types'],
    args: '',
    summary: 'The engines, versions, plans and capabilities of this deployment',
    async run({ api, out }) {
      const catalog = await api.GET('/v1/addon-types');
      out.result(catalog, () =>
        table(
          catalog.items.map((type) => ({
            engine: type.engine,
            versions: type.versions
              .map((v) => (v.version === type.defaultVersion ? `${v.version}*` : v.version))
              .join(' '),
            plans: type.plans
              .map((plan) => (plan.id === type.defaultPlan ? `${plan.id}*` : plan.id))
              .join(' '),
            capabilities: Object.entries(type.capabilities)
              .filter(([, on]) => on)
              .map(([name]) => name)
              .join(' '),
          })),
          ['engine', 'versions', 'plans', 'capabilities'],
        ),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['create'],
    args: '<name>',
    summary: 'Create an addon (or a fork with --from) and follow its creation',
    options: {
      engine: { type: 'string', help: '<engine> postgresql, mysql, redis or mongodb (a fork: the source’s)' },
      version: { type: 'string', help: '<major> engine version (default: the catalog’s)' },
      plan: { type: 'string', help: '<plan> plan id from `addons types`' },
      storage: { type: 'string', help: '<GiB> storage size' },
      replicas: { type: 'string', help: '<n> read replicas' },
      tls: { type: 'boolean', help: 'require TLS' },
      'no-tls': { type: 'boolean', help: 'do not require TLS' },
      public: { type: 'boolean', help: 'reachable from outside the platform network' },
      description: { type: 'string', help: '<text> free text' },
      from: { type: 'string', help: '<addon> fork this addon (id or name) ...' },
      backup: { type: 'string', help: '<backup> ... from this backup' },
      latest: { type: 'boolean', help: '... from its newest completed backup' },
      'point-in-time': { type: 'string', help: '<time> ... as it was at this second (RFC 3339, UTC)' },
      'idempotency-key': { type: 'string', help: '<key> repeat-safe key (one is generated otherwise)' },
    },
    async run(context, { positionals: [name = ''], values }) {
      const { api, out, project } = context;
      const from = str(values, 'from');
      const picks = [
        str(values, 'backup'),
        flag(values, 'latest') || undefined,
        str(values, 'point-in-time'),
      ];
      if (from && picks.filter((pick) => pick !== undefined).length !== 1) {
        throw usageError('--from needs exactly one of --backup <id>, --latest or --point-in-time <time>');
      }
      if (!from && picks.some((pick) => pick !== undefined)) {
        throw usageError('--backup, --latest and --point-in-time need --from <addon>');
      }
      if (flag(values, 'tls') && flag(values, 'no-tls'))
        throw usageError('--tls and --no-tls exclude each other');
      let engine = choice(values, 'engine', ENGINES);
      let source: CreateAddonRequest['source'];
      if (from) {
        const addonId = await context.resolveAddon(from);
        const backupId = str(values, 'backup');
        const pointInTime = str(values, 'point-in-time');
        source = {
          addonId,
          ...(backupId ? { backupId } : {}),
          ...(flag(values, 'latest') ? { latest: true as const } : {}),
          ...(pointInTime ? { pointInTime } : {}),
        };
        engine ??= (
          await api.GET('/v1/projects/{projectId}/addons/{addonId}', {
            params: { path: { projectId: project(), addonId } },
          })
        ).engine;
      }
      if (!engine) throw usageError('--engine is required (postgresql, mysql, redis or mongodb)');
      const storageGiB = int(values, 'storage', 1, 65536);
      const replicas = int(values, 'replicas', 0, 15);
      const body: CreateAddonRequest = {
        name,
        engine,
        ...(str(values, 'version') ? { version: str(values, 'version') } : {}),
        ...(str(values, 'plan') ? { plan: str(values, 'plan') } : {}),
        ...(storageGiB === undefined ? {} : { storageGiB }),
        ...(replicas === undefined ? {} : { replicas }),
        ...(flag(values, 'tls') ? { tls: true } : flag(values, 'no-tls') ? { tls: false } : {}),
        ...(flag(values, 'public') ? { publicAccess: true } : {}),
        ...(str(values, 'description') ? { description: str(values, 'description') } : {}),
        ...(source ? { source } : {}),
      };
      const key = str(values, 'idempotency-key');
      const created = await api.POST('/v1/projects/{projectId}/addons', {
        params: { path: { projectId: project() }, ...(key ? { header: { 'idempotency-key': key } } : {}) },
        body,
      });
      out.info(`Creating ${created.addon.name} (${created.addon.id})`);
      const { operation, exitCode } = await follow(context, created.operation);
      const addon =
        context.wait && exitCode !== EXIT.interrupted && exitCode !== EXIT.timedOut
          ? await api
              .GET('/v1/projects/{projectId}/addons/{addonId}', {
                params: { path: { projectId: project(), addonId: created.addon.id } },
              })
              .catch(() => created.addon)
          : created.addon;
      out.result({ addon, operation }, () => addonRecord(addon));
      return exitCode;
    },
  },
  {
    words: ['list'],
    args: '',
    summary: "The project's addons",
    options: {
      limit: { type: 'string', help: '<n> page size (default 100)' },
      cursor: { type: 'string', help: '<cursor> the page after a previous --json listing’s nextCursor' },
    },
    async run({ api, out, project }, { values }) {
      const cursor = str(values, 'cursor');
      const page = await api.GET('/v1/projects/{projectId}/addons', {
        params: {
          path: { projectId: project() },
          query: { limit: int(values, 'limit', 1, 100) ?? 100, ...(cursor ? { cursor } : {}) },
        },
      });
      out.result(page, () => {
        const rows = table(page.items.map(addonRow), ['id', 'name', 'engine', 'plan', 'status', 'endpoint']);
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['get'],
    args: '<addon>',
    summary: 'One addon (id or name), with its restorable window',
    async run(context, { positionals: [ref = ''] }) {
      const addonId = await context.resolveAddon(ref);
      const addon = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}', {
        params: { path: { projectId: context.project(), addonId } },
      });
      context.out.result(addon, () => addonRecord(addon));
      return EXIT.ok;
    },
  },
  {
    words: ['delete'],
    args: '<addon>',
    summary: 'Delete an addon, its data and schedules (its backups stay for the grace period)',
    options: {
      'final-backup': { type: 'string', help: '<dump|snapshot> take a last backup first' },
      yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const addonId = await context.resolveAddon(ref);
      const finalBackup = choice(values, 'final-backup', ['dump', 'snapshot'] as const);
      await confirm(values, `Delete addon ${ref} and all its data?`);
      const deleted = await context.api.DELETE('/v1/projects/{projectId}/addons/{addonId}', {
        params: {
          path: { projectId: context.project(), addonId },
          query: finalBackup ? { finalBackup } : {},
        },
      });
      const { operation, exitCode } = await follow(context, deleted.operation);
      context.out.result({ addon: deleted.addon, operation }, () => `Addon ${addonId}: ${operation.status}`);
      return exitCode;
    },
  },
  {
    words: ['restore'],
    args: '<addon>',
    summary: 'Restore an addon in place to a second of its restorable window (point-in-time recovery)',
    options: {
      'point-in-time': {
        type: 'string',
        help: '<time> RFC 3339 UTC without fractions, e.g. 2026-11-30T12:34:56Z',
      },
      yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const pointInTime = str(values, 'point-in-time');
      if (!pointInTime) throw usageError('--point-in-time <time> is required');
      const addonId = await context.resolveAddon(ref);
      await confirm(values, `Replace the data of ${ref} with its data as of ${pointInTime}?`);
      const started = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/restore', {
        params: { path: { projectId: context.project(), addonId } },
        body: { pointInTime },
      });
      const { operation, exitCode } = await follow(context, started.operation);
      context.out.result(
        { addon: started.addon, operation },
        () => `Restore of ${addonId}: ${operation.status}`,
      );
      return exitCode;
    },
  },
  {
    words: ['upgrade'],
    args: '<addon> <version>',
    summary:
      "Upgrade the addon's engine to one of its upgrade targets (a pinned backup first, the way back); --wait follows it",
    async run(context, { positionals: [ref = '', version = ''] }) {
      if (!version) throw usageError('give the version to upgrade to (the addon shows its upgradeTargets)');
      const addonId = await context.resolveAddon(ref);
      const started = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/upgrade', {
        params: { path: { projectId: context.project(), addonId } },
        body: { version },
      });
      context.out.info(`Upgrading ${ref} to ${version}: backup ${started.backup.id} is taken first and kept`);
      const { operation, exitCode } = await follow(context, started.operation);
      context.out.result({ ...started, operation }, () =>
        record({
          operation: operation.id,
          status: operation.status,
          from: operation.upgrade?.fromVersion,
          to: operation.upgrade?.toVersion,
          backup: started.backup.id,
          ...(operation.error ? { error: operation.error.message } : {}),
        }),
      );
      return exitCode;
    },
  },
];
