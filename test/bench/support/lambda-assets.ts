import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { marshall } from '@aws-sdk/util-dynamodb';
import { BUNDLE_BUDGETS, type FunctionKind, functionKind } from '#infra/aws/bundling.ts';
import { RESOURCE_ID_PREFIXES } from '#shared/schemas/common.ts';

/**
 * Every Lambda function of a synthesized cloud assembly, read from its templates: nothing is
 * listed by hand, so a function added to the stack is measured without anyone remembering to.
 */
export interface LambdaAsset {
  /** The construct path without the stack and the `Function/Resource` tail, e.g. `Api/AddonsFunction`. */
  name: string;
  kind: FunctionKind | 'baseline' | 'cdk';
  budget?: number;
  /** The asset directory (cdk.out/asset.<hash>). */
  dir: string;
  /** The module Lambda loads (index.mjs for the project's functions). */
  file: string;
  handlerName: string;
  /** The function's environment with CloudFormation references replaced by placeholders. */
  environment: Record<string, string>;
  /** An event the function serves as its first request (an API route read from the template). */
  event: unknown;
  metafile?: Metafile;
}

export interface Metafile {
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

const LAMBDA_TASK_ROOT = '/var/task';

/** A readable stand-in for a value CloudFormation resolves at deploy time. */
const placeholder = (key: string): string => {
  if (key.endsWith('_ARN')) return `arn:aws:bench:eu-west-1:123456789012:${key.toLowerCase()}`;
  if (key.endsWith('_CIDR')) return '10.0.0.0/16';
  if (key.endsWith('_URL')) return 'https://bench.invalid';
  return `bench-${key.toLowerCase().replaceAll('_', '-')}`;
};

/** Joins keep their literal parts (JSON documents stay JSON); references become placeholders. */
const resolveValue = (value: unknown, key: string): string => {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join) return join[1].map((part) => resolveValue(part, key)).join(join[0]);
  return placeholder(key);
};

const environmentOf = (resource: Resource, dir: string): Record<string, string> => {
  const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
    ?.Variables ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(variables).map(([key, value]) => {
      const resolved = resolveValue(value, key);
      return [key, resolved === LAMBDA_TASK_ROOT ? dir : resolved];
    }),
  );
};

const isId = (name: string) =>
  name === 'projectId' || (name.endsWith('Id') && name.replace(/Id$/, '') in RESOURCE_ID_PREFIXES);

const pathValue = (name: string): string => {
  if (name === 'projectId') return 'bench';
  const kind = name.replace(/Id$/, '') as keyof typeof RESOURCE_ID_PREFIXES;
  return name.endsWith('Id') && RESOURCE_ID_PREFIXES[kind] ? `${RESOURCE_ID_PREFIXES[kind]}-bench` : 'bench';
};

/** An API Gateway (HTTP API, payload 2.0) request for a route, from an authorized caller. */
export const apiEvent = (routeKey: string) => {
  const [method = 'GET', path = '/'] = routeKey.split(' ');
  const pathParameters: Record<string, string> = {};
  const rawPath = path.replace(/\{(\w+)\+?\}/g, (_match, name: string) => {
    pathParameters[name] = pathValue(name);
    return pathParameters[name];
  });
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    pathParameters,
    requestContext: {
      requestId: 'bench',
      routeKey,
      http: { method, path: rawPath, sourceIp: '127.0.0.1', protocol: 'HTTP/1.1', userAgent: 'bench' },
      authorizer: { jwt: { claims: { sub: 'bench-user', 'custom:projects': '*' }, scopes: [] } },
    },
    ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
    isBase64Encoded: false,
  };
};

/**
 * The route a function's first request takes: a read of one resource (a GET with the most ids
 * the benchmark can fill in; a route with another kind of parameter would only answer 404).
 */
const firstRoute = (routeKeys: string[]): string | undefined =>
  [...routeKeys].sort((a, b) => {
    const score = (key: string) =>
      (key.startsWith('GET ') ? 100 : 0) +
      [...key.matchAll(/\{(\w+)\+?\}/g)].reduce((sum, [, name = '']) => sum + (isId(name) ? 1 : -50), 0);
    return score(b) - score(a) || a.localeCompare(b);
  })[0];

/**
 * The first request of the platform's non-API functions, by construct path: each reads the
 * table (the local AWS endpoint of the benchmark answers it) and finds nothing to do.
 */
const BENCH_TIME = '2026-01-01T00:00:00.000Z';

/**
 * The first request of each function that no route serves: what its trigger sends, shaped so the
 * handler runs its real path (store reads, the AWS call it makes) rather than failing on the event.
 */
const WORKER_EVENTS: Array<[RegExp, (environment: Record<string, string>) => unknown]> = [
  [
    /Workflows\/TaskFunction$/,
    () => ({
      action: 'startOperation',
      projectId: 'bench',
      addonId: 'adn-bench',
      operationId: 'op-bench',
      step: 'bench',
    }),
  ],
  [/RunBackupFunction$/, () => ({ projectId: 'bench', addonId: 'adn-bench', scheduleId: 'sch-bench' })],
  // The events feed's relay: one event the store appended, as the table's stream delivers it.
  [
    /Events\/PublishFunction$/,
    () => ({
      Records: [
        {
          eventName: 'INSERT',
          dynamodb: {
            NewImage: marshall({
              pk: 'EVENTS#bench',
              sk: `${BENCH_TIME}#op-bench.completed`,
              id: 'op-bench.completed',
              type: 'operation.completed',
              projectId: 'bench',
              addonId: 'adn-bench',
              occurredAt: BENCH_TIME,
              operation: {
                id: 'op-bench',
                type: 'backup',
                status: 'completed',
                backupId: 'bkp-bench',
                error: null,
                createdAt: BENCH_TIME,
                completedAt: BENCH_TIME,
              },
              backupHealth: null,
            }),
          },
        },
      ],
    }),
  ],
  // An alert alarm's change of state, as CloudWatch sends it through the alert topic.
  [
    /Alerts\/NotifyFunction$/,
    (environment) => ({
      Records: [
        {
          Sns: {
            Message: JSON.stringify({
              AlarmName: `${environment.DEPLOYMENT_NAME}-alert-bench-alr-bench-adn-bench`,
              NewStateValue: 'ALARM',
              NewStateReason:
                'Threshold Crossed: 1 datapoint [90.0 (01/01/26 00:00:00)] was greater than the threshold (85.0).',
              StateChangeTime: '2026-01-01T00:00:00.000+0000',
            }),
          },
        },
      ],
    }),
  ],
];

const routeKeysByFunction = (resources: Record<string, Resource>): Map<string, string[]> => {
  const functionOfIntegration = new Map<string, string>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::ApiGatewayV2::Integration') continue;
    const uri = resource.Properties?.IntegrationUri as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const target = uri?.['Fn::GetAtt']?.[0];
    if (target) functionOfIntegration.set(id, target);
  }
  const routes = new Map<string, string[]>();
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::ApiGatewayV2::Route') continue;
    const target = JSON.stringify(resource.Properties?.Target ?? '');
    const integration = [...functionOfIntegration.keys()].find((id) => target.includes(`"${id}"`));
    const fn = integration && functionOfIntegration.get(integration);
    if (!fn) continue;
    routes.set(fn, [...(routes.get(fn) ?? []), String(resource.Properties?.RouteKey)]);
  }
  return routes;
};

/** Every AWS::Lambda::Function of a synthesized template, with its asset. */
export const lambdaAssets = (outdir: string, templateFile: string, baseline = false): LambdaAsset[] => {
  const template = JSON.parse(readFileSync(join(outdir, templateFile), 'utf8')) as {
    Resources: Record<string, Resource>;
  };
  const routes = routeKeysByFunction(template.Resources);
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const cdkPath = resource.Metadata?.['aws:cdk:path'];
      if (typeof cdkPath !== 'string')
        throw new Error(`${logicalId}: no aws:cdk:path (enable path metadata)`);
      const name = cdkPath
        .split('/')
        .slice(1)
        .filter((part) => part !== 'Resource')
        .join('/')
        .replace(/\/Function$/, '');
      const code = resource.Properties?.Code as { S3Key?: unknown } | undefined;
      const assetPath = resource.Metadata?.['aws:asset:path'];
      const dir = join(
        outdir,
        typeof assetPath === 'string' ? assetPath : `asset.${String(code?.S3Key).replace(/\.zip$/, '')}`,
      );
      const [module = 'index', handlerName = 'handler'] = String(resource.Properties?.Handler ?? '').split(
        '.',
      );
      const file = ['.mjs', '.js', '.cjs'].map((ext) => join(dir, `${module}${ext}`)).find(existsSync) ?? '';
      const metafileFile = join(dir, 'index.meta.json');
      const metafile = existsSync(metafileFile)
        ? (JSON.parse(readFileSync(metafileFile, 'utf8')) as Metafile)
        : undefined;
      // Only the project's functions are built with the metafile; the rest are CDK's own handlers.
      const kind: LambdaAsset['kind'] = baseline ? 'baseline' : metafile ? functionKind(cdkPath) : 'cdk';
      const routeKey = firstRoute(routes.get(logicalId) ?? []);
      const environment = environmentOf(resource, dir);
      const event = routeKey
        ? apiEvent(routeKey)
        : (WORKER_EVENTS.find(([pattern]) => pattern.test(name))?.[1](environment) ?? {});
      return {
        name,
        kind,
        ...(kind === 'api' || kind === 'worker' ? { budget: BUNDLE_BUDGETS[kind] } : {}),
        dir,
        file,
        handlerName,
        environment,
        event,
        ...(metafile ? { metafile } : {}),
      };
    });
};

/** Bytes of output by package (or `project`), and the largest modules, from an esbuild metafile. */
export const contributors = (metafile: Metafile) => {
  const output = Object.entries(metafile.outputs).find(([file]) => /\.[cm]?js$/.test(file))?.[1];
  const packages = new Map<string, number>();
  const modules: Array<[string, number]> = [];
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(input);
    const owner = match?.[1] ?? 'project';
    packages.set(owner, (packages.get(owner) ?? 0) + bytesInOutput);
    modules.push([match ? `${match[1]}/${match[2]}` : input, bytesInOutput]);
  }
  const byBytes = (a: [string, number], b: [string, number]) => b[1] - a[1];
  return { packages: [...packages].sort(byBytes), modules: modules.sort(byBytes) };
};
