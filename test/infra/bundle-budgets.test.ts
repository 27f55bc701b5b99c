import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_BUDGETS } from '#infra/aws/bundling.ts';
import { bundleEntries, type StackFunction, stackFunctions } from './support/bundles.ts';

/**
 * Bundle sizes are deterministic, so they are asserted here; cold-start times are not, so
 * `npm run bench -- bundles` prints them (docs/performance.md). Every function of the stack
 * is bundled with the deployed esbuild options, and must stay within its budget
 * (infra/aws/bundling.ts: API 300 KB, workflow and schedule functions 600 KB).
 *
 * Some are still over it (docs/performance.md says why and what is left): each of those has
 * a ceiling just above its measured size, so it cannot grow unnoticed, and once it fits its
 * budget the test asks for its ceiling to be removed.
 */
const KB = 1024;
// Measured with each function's own route table and S3 from the runtime (549, 575, 468 and
// 413 KB; docs/performance.md). Every ceiling came down by 58 KB when the schemas moved to zod/mini.
const OVER_BUDGET_CEILINGS: Record<string, number> = {
  // 570 KB since scaling, read replicas and upgrade details joined it; 583 KB since the AWS
  // networking change (its workflow start) and RDS read replicas (theirs) joined it; 593 KB since
  // used storage on AWS (its CloudWatch read) and the rotation's fields of the addon and operation;
  // 535 KB on zod/mini.
  'Api/AddonsFunction/Function/Resource': 537 * KB,
  // 597 KB since the upgrade route joined it; 606 KB since the upgrade's event checks and the
  // rotation's fields of the addon and operation; 548 KB on zod/mini.
  'Api/BackupsFunction/Function/Resource': 550 * KB,
  // 498 KB since replica endpoints joined the credentials; 488 KB since the catalog notes left
  // the engine facts (shared/engines/notes.ts); 501 KB since rotations on AWS start a workflow
  // (the Step Functions client from the runtime: 521 KB bundled); 442 KB on zod/mini.
  'Api/CredentialsFunction/Function/Resource': 444 * KB,
  // Alert rules joined it (their store, CloudWatch alarm sync, idempotency of the create); 429 KB
  // on zod/mini.
  'Api/OperationsFunction/Function/Resource': 431 * KB,
};

/** The route families (shared/api/routes/<family>.ts) each API entry may bundle: its own. */
const OWN_FAMILIES: Record<string, string[]> = {
  'functions/api/meta.ts': ['meta'],
  'functions/api/catalog.ts': ['catalog'],
  'functions/api/addons.ts': ['addons'],
  'functions/api/credentials.ts': ['credentials', 'secret-groups'],
  'functions/api/operations.ts': ['operations', 'metrics', 'alerts'],
  'functions/api/backups-handler.ts': ['backups', 'pitr', 'schedules', 'imports', 'upgrades'],
};

const describeBundle = (fn: StackFunction, bytes: number) =>
  `${fn.path} (${fn.entry}): ${(bytes / KB).toFixed(1)} KB`;

describe('Lambda bundle budgets', () => {
  let functions: StackFunction[];
  let bundles: Awaited<ReturnType<typeof bundleEntries>>;

  beforeAll(async () => {
    functions = stackFunctions();
    // One esbuild run per set of aliases (the API functions and the workers differ).
    const groups = new Map<string, { aliases: Record<string, string>; entries: Set<string> }>();
    for (const fn of functions) {
      if (!fn.entry || !fn.aliases) continue;
      const key = JSON.stringify(fn.aliases);
      const group = groups.get(key) ?? { aliases: fn.aliases, entries: new Set<string>() };
      group.entries.add(fn.entry);
      groups.set(key, group);
    }
    const built = await Promise.all(
      [...groups.values()].map((group) => bundleEntries([...group.entries], group.aliases)),
    );
    bundles = new Map(built.flatMap((map) => [...map]));
  }, 120_000);

  it('finds every function of the stack, each built by the project function construct', () => {
    expect(functions.length).toBeGreaterThanOrEqual(10);
    expect(functions.filter((fn) => fn.kind === 'api').length).toBeGreaterThanOrEqual(6);
    // A handler CDK provides (custom resources) has no entry of ours and no budget here.
    for (const fn of functions.filter((entry) => entry.entry)) {
      expect(bundles.get(fn.entry as string), fn.path).toBeDefined();
    }
  });

  it('keeps every bundle within its budget (or, while it is still over, under its ceiling)', () => {
    const failures: string[] = [];
    for (const fn of functions) {
      if (!fn.entry) continue;
      const bytes = bundles.get(fn.entry)?.bytes ?? Number.POSITIVE_INFINITY;
      const budget = BUNDLE_BUDGETS[fn.kind];
      const ceiling = OVER_BUDGET_CEILINGS[fn.path];
      if (ceiling === undefined && bytes > budget)
        failures.push(`${describeBundle(fn, bytes)} is over its ${budget / KB} KB budget`);
      if (ceiling !== undefined && bytes > ceiling)
        failures.push(`${describeBundle(fn, bytes)} grew past its ceiling of ${ceiling / KB} KB`);
      if (ceiling !== undefined && bytes <= budget)
        failures.push(`${describeBundle(fn, bytes)} now fits its budget: remove its ceiling from this test`);
    }
    // Over? `npm run bench -- bundles` names the largest packages and modules of each bundle;
    // a client whose model does not tree-shake can load from the runtime on first use
    // (LAMBDA_ALIASES in infra/aws/bundling.ts; docs/performance.md).
    expect(failures).toEqual([]);
  });

  it('gives each API function only its own route families, never the whole route table', () => {
    // Each family's module under shared/api/routes/, by the function that serves it (a unit
    // test, api-function-routes.test.ts, keeps the families and the routes' `fn` in step).
    const familyOf = (input: string) => input.match(/^shared\/api\/routes\/([\w-]+)\.ts$/)?.[1];
    const found: string[] = [];
    for (const fn of functions.filter((entry) => entry.kind === 'api' && entry.entry)) {
      const inputs = Object.keys(bundles.get(fn.entry as string)?.inputs ?? {});
      if (inputs.includes('shared/api/routes.ts')) found.push(`${fn.path}: shared/api/routes.ts`);
      const families = inputs.map(familyOf).filter((family) => family && family !== 'common');
      found.push(
        ...families
          .filter((family) => !OWN_FAMILIES[fn.entry as string]?.includes(family as string))
          .map((family) => `${fn.path}: ${family}`),
      );
    }
    expect(found).toEqual([]);
  });

  it('keeps the OpenAPI generator, the credential chain, S3, its presigner and the untreeshakable SDK models out of every bundle', () => {
    // The generator is ours (on zod's own JSON Schema conversion): its modules, not a package.
    const generator = ['shared/api/openapi.ts', 'shared/api/openapi-schemas.ts'];
    const forbidden = [
      '@aws-sdk/credential-provider-node',
      '@aws-sdk/nested-clients',
      '@aws-sdk/client-ec2',
      '@aws-sdk/client-rds',
      '@aws-sdk/client-elasticache',
      '@aws-sdk/client-docdb',
      '@aws-sdk/client-s3',
      '@aws-sdk/s3-request-presigner',
    ];
    const found: string[] = [];
    for (const [entry, bundle] of bundles) {
      for (const input of Object.keys(bundle.inputs)) {
        const name =
          forbidden.find((pkg) => input.includes(`node_modules/${pkg}/`)) ??
          generator.find((module) => input === module);
        if (name) found.push(`${entry}: ${name}`);
      }
    }
    expect([...new Set(found)]).toEqual([]);
  });

  it('builds every bundle on zod/mini: no zod classic, and of the locales English only', () => {
    // One `import ... from 'zod'` anywhere in a function's module graph brings classic back (99 KB,
    // and a slower load: docs/performance.md); `z.locales.en()` through the namespace, every locale.
    const found: string[] = [];
    for (const [entry, bundle] of bundles) {
      for (const input of Object.keys(bundle.inputs)) {
        if (input.includes('node_modules/zod/v4/classic/')) found.push(`${entry}: zod classic`);
        const locale = input.match(/node_modules\/zod\/v4\/locales\/([\w-]+)\.js$/)?.[1];
        if (locale && locale !== 'en') found.push(`${entry}: zod locale ${locale}`);
      }
    }
    expect([...new Set(found)]).toEqual([]);
  });
});
