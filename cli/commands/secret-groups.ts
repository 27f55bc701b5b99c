import type { components } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { type Context, flag, int, many, str } from '../context.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { confirm } from './confirm.ts';

type SecretGroup = components['schemas']['SecretGroup'];
type SecretGroupLink = components['schemas']['SecretGroupLink'];
type ConnectionKey = components['schemas']['SecretGroupKey']['key'];
type ExternalService = components['schemas']['ExternalService'];

const CONNECTION_KEYS: readonly ConnectionKey[] = [
  'uri',
  'host',
  'port',
  'database',
  'username',
  'password',
  'tls',
  'replicaUri',
];

const pageOptions = {
  limit: { type: 'string', help: '<n> page size (default 100)' },
  cursor: { type: 'string', help: '<cursor> the page after a previous --json listing’s nextCursor' },
} as const;

/** A group or service by id (`sgr-...`, `ext-...`) or by name, through the project's listing. */
const resolveByName = async (
  context: Context,
  ref: string,
  prefix: 'sgr' | 'ext',
  listPage: (
    cursor: string | undefined,
  ) => Promise<{ items: { id: string; name: string }[]; nextCursor?: string | null }>,
) => {
  if (new RegExp(`^${prefix}-[a-z0-9-]+$`).test(ref)) return ref;
  let cursor: string | undefined;
  do {
    const page = await listPage(cursor);
    const found = page.items.find((item) => item.name === ref);
    if (found) return found.id;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  const what = prefix === 'sgr' ? 'secret group' : 'external service';
  throw new CliError(`No ${what} named or with id '${ref}' in project ${context.project()}`, EXIT.api);
};

const resolveGroup = (context: Context, ref: string) =>
  resolveByName(context, ref, 'sgr', (cursor) =>
    context.api.GET('/v1/projects/{projectId}/secret-groups', {
      params: {
        path: { projectId: context.project() },
        query: { limit: 100, ...(cursor ? { cursor } : {}) },
      },
    }),
  );

const resolveService = (context: Context, ref: string) =>
  resolveByName(context, ref, 'ext', (cursor) =>
    context.api.GET('/v1/projects/{projectId}/external-services', {
      params: {
        path: { projectId: context.project() },
        query: { limit: 100, ...(cursor ? { cursor } : {}) },
      },
    }),
  );

/**
 * `--link <source>:<key>=<ALIAS>[,<key>=<ALIAS>]`: the source is an addon (id or name) or an
 * external service (`ext-...`).
 */
const parseLink = async (context: Context, text: string): Promise<SecretGroupLink> => {
  const colon = text.lastIndexOf(':');
  const source = text.slice(0, colon);
  const pairs = text
    .slice(colon + 1)
    .split(',')
    .filter(Boolean);
  if (colon <= 0 || pairs.length === 0) {
    throw usageError(`--link '${text}': expected <addon>:<key>=<ALIAS>[,<key>=<ALIAS>]`);
  }
  const keys = pairs.map((pair) => {
    const [key = '', alias = ''] = pair.split('=');
    if (!(CONNECTION_KEYS as readonly string[]).includes(key) || !alias) {
      throw usageError(
        `--link '${text}': '${pair}' is not <key>=<ALIAS> with a key of ${CONNECTION_KEYS.join(', ')}`,
      );
    }
    return { key: key as ConnectionKey, alias };
  });
  return source.startsWith('ext-')
    ? { externalServiceId: source, keys }
    : { addonId: await context.resolveAddon(source), keys };
};

const parseVariables = (texts: string[]) =>
  Object.fromEntries(
    texts.map((text) => {
      const equals = text.indexOf('=');
      if (equals <= 0) throw usageError(`--var '${text}': expected KEY=VALUE`);
      return [text.slice(0, equals), text.slice(equals + 1)];
    }),
  );

const linkText = (link: SecretGroupLink) =>
  `${link.addonId ?? link.externalServiceId}:${link.keys.map((key) => `${key.key}=${key.alias}`).join(',')}`;

const groupRecord = (group: SecretGroup) =>
  record({
    id: group.id,
    name: group.name,
    description: group.description,
    links: group.links.map(linkText).join(' '),
    variables: Object.keys(group.variables).join(' '),
    document: `${group.documentLocation} (version ${group.documentVersion})`,
    published: group.publishedAt,
    created: group.createdAt,
  });

const serviceRow = (service: ExternalService) => ({
  id: service.id,
  name: service.name,
  engine: service.engine,
  endpoint: `${service.host}:${service.port}/${service.database}`,
  username: service.username,
  tls: service.tls,
});

/** The whole of stdin, when it is not a terminal: how a secret reaches the CLI unseen. */
const readStdin = async (): Promise<string> => {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
};

export const secretGroupCommands: CommandSpec[] = [
  {
    words: ['secret-groups', 'list'],
    args: '',
    summary: "The project's secret groups",
    options: pageOptions,
    async run(context, { values }) {
      const cursor = str(values, 'cursor');
      const page = await context.api.GET('/v1/projects/{projectId}/secret-groups', {
        params: {
          path: { projectId: context.project() },
          query: { limit: int(values, 'limit', 1, 100) ?? 100, ...(cursor ? { cursor } : {}) },
        },
      });
      context.out.result(page, () => {
        const rows = table(
          page.items.map((group) => ({
            id: group.id,
            name: group.name,
            links: group.links.length,
            variables: Object.keys(group.variables).length,
            version: group.documentVersion,
          })),
          ['id', 'name', 'links', 'variables', 'version'],
        );
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['secret-groups', 'get'],
    args: '<group>',
    summary: 'One secret group (id or name): its links and variables',
    async run(context, { positionals: [ref = ''] }) {
      const groupId = await resolveGroup(context, ref);
      const group = await context.api.GET('/v1/projects/{projectId}/secret-groups/{groupId}', {
        params: { path: { projectId: context.project(), groupId } },
      });
      context.out.result(group, () => groupRecord(group));
      return EXIT.ok;
    },
  },
  {
    words: ['secret-groups', 'create'],
    args: '',
    summary:
      "Publish chosen keys of addons' connection details under aliases, plus variables, as one document",
    options: {
      name: { type: 'string', help: '<name> the group’s name' },
      description: { type: 'string', help: '<text> free text' },
      link: {
        type: 'string',
        multiple: true,
        help: '<addon>:<key>=<ALIAS>[,...] keys of an addon (or ext-... service), e.g. shop:uri=DATABASE_URL (repeat)',
      },
      var: { type: 'string', multiple: true, help: '<KEY=VALUE> a plain variable (repeat)' },
    },
    async run(context, { values }) {
      const name = str(values, 'name');
      if (!name) throw usageError('--name <name> is required');
      const links: SecretGroupLink[] = [];
      for (const text of many(values, 'link')) links.push(await parseLink(context, text));
      const description = str(values, 'description');
      const group = await context.api.POST('/v1/projects/{projectId}/secret-groups', {
        params: { path: { projectId: context.project() } },
        body: {
          name,
          ...(description ? { description } : {}),
          links,
          variables: parseVariables(many(values, 'var')),
        },
      });
      context.out.result(group, () => groupRecord(group));
      return EXIT.ok;
    },
  },
  {
    words: ['secret-groups', 'delete'],
    args: '<group>',
    summary: 'Delete a secret group and its published document (the linked addons stay)',
    options: { yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' } },
    async run(context, { positionals: [ref = ''], values }) {
      const groupId = await resolveGroup(context, ref);
      await confirm(values, `Delete secret group ${ref} and its document?`);
      await context.api.DELETE('/v1/projects/{projectId}/secret-groups/{groupId}', {
        params: { path: { projectId: context.project(), groupId } },
      });
      context.out.result({ id: groupId, deleted: true }, () => `Secret group ${groupId} deleted`);
      return EXIT.ok;
    },
  },
  {
    words: ['secret-groups', 'document'],
    args: '<group>',
    summary: "The group's published document (values only with --show-values or --json)",
    options: { 'show-values': { type: 'boolean', help: 'print the values' } },
    async run(context, { positionals: [ref = ''], values }) {
      const groupId = await resolveGroup(context, ref);
      const document = await context.api.GET('/v1/projects/{projectId}/secret-groups/{groupId}/document', {
        params: { path: { projectId: context.project(), groupId } },
      });
      const show = flag(values, 'show-values');
      context.out.result(document, () =>
        [
          `version ${document.documentVersion}, published ${document.publishedAt ?? '-'}`,
          table(
            Object.entries(document.values).map(([name, value]) => ({
              name,
              value: show ? value : '(hidden: --show-values)',
            })),
            ['name', 'value'],
          ),
        ].join('\n'),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['external-services', 'list'],
    args: '',
    summary: "The project's external services (databases registered by connection string)",
    options: pageOptions,
    async run(context, { values }) {
      const cursor = str(values, 'cursor');
      const page = await context.api.GET('/v1/projects/{projectId}/external-services', {
        params: {
          path: { projectId: context.project() },
          query: { limit: int(values, 'limit', 1, 100) ?? 100, ...(cursor ? { cursor } : {}) },
        },
      });
      context.out.result(page, () => {
        const rows = table(page.items.map(serviceRow), [
          'id',
          'name',
          'engine',
          'endpoint',
          'username',
          'tls',
        ]);
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['external-services', 'get'],
    args: '<service>',
    summary: 'One external service (id or name), never its connection string',
    async run(context, { positionals: [ref = ''] }) {
      const externalServiceId = await resolveService(context, ref);
      const service = await context.api.GET(
        '/v1/projects/{projectId}/external-services/{externalServiceId}',
        {
          params: { path: { projectId: context.project(), externalServiceId } },
        },
      );
      context.out.result(service, () =>
        record({ ...serviceRow(service), description: service.description, created: service.createdAt }),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['external-services', 'create'],
    args: '<name>',
    summary:
      'Register a database by connection string (from stdin, or --connection-string); never shown again',
    options: {
      'connection-string': {
        type: 'string',
        help: '<url> scheme://user:password@host:port/db (prefer stdin: argv is visible to other users)',
      },
      description: { type: 'string', help: '<text> free text' },
    },
    async run(context, { positionals: [name = ''], values }) {
      const connectionString = str(values, 'connection-string') ?? (await readStdin());
      if (!connectionString)
        throw usageError('give the connection string on stdin or with --connection-string');
      const description = str(values, 'description');
      const service = await context.api.POST('/v1/projects/{projectId}/external-services', {
        params: { path: { projectId: context.project() } },
        body: { name, connectionString, ...(description ? { description } : {}) },
      });
      context.out.result(service, () => record(serviceRow(service)));
      return EXIT.ok;
    },
  },
  {
    words: ['external-services', 'delete'],
    args: '<service>',
    summary: 'Forget an external service (--unlink-groups: remove it from secret groups first)',
    options: {
      'unlink-groups': { type: 'boolean', help: 'remove its links from every secret group first' },
      yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const externalServiceId = await resolveService(context, ref);
      await confirm(values, `Forget external service ${ref}?`);
      await context.api.DELETE('/v1/projects/{projectId}/external-services/{externalServiceId}', {
        params: {
          path: { projectId: context.project(), externalServiceId },
          query: flag(values, 'unlink-groups') ? { unlinkGroups: 'true' } : {},
        },
      });
      context.out.result(
        { id: externalServiceId, deleted: true },
        () => `External service ${externalServiceId} deleted`,
      );
      return EXIT.ok;
    },
  },
];
