import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type IPolicyValidationPlugin, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import type { AddonsStack } from '#infra/aws/addons-stack.ts';
import { controlTowerValidator, GUARD_PLUGIN_NAME } from '#infra/aws/guard.ts';

const ROOT = new URL('../../../', import.meta.url);

/** The context `cdk synth` runs with: the feature flags of cdk.json. */
export const cdkJsonContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(new URL('cdk.json', ROOT), 'utf8')) as { context: Record<string, unknown> })
    .context;

export interface ValidationViolation {
  ruleName: string;
  severity: string;
  violatingConstructs: Array<{ constructPath: string }>;
}

export interface SynthesizedStack {
  stack: AddonsStack;
  template: Template;
  json: CfnTemplate;
  /** cdk-nag AwsSolutions findings nobody acknowledged. */
  nagFindings: Array<{ rule: string; paths: string[] }>;
  /**
   * Control Tower proactive control (cfn-guard) findings nobody acknowledged. Only a synthesis
   * asked for with `guard` has them: reading them from one without throws.
   */
  guardFindings: Array<{ rule: string; paths: string[] }>;
  /** The logical IDs of the resources cfn-guard checked (all, or those `guard: 'changes'` picked). */
  guardChecked: string[];
  /** Construct annotations (warnings) in the validation report. */
  annotations: Array<{ rule: string; paths: string[] }>;
}

export interface CfnTemplate {
  Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
  >;
  Outputs?: Record<string, unknown>;
}

/**
 * How long a file's setup may take to synthesize the stack: seconds alone, minutes on the 2-core CI
 * machine while the other worker runs engines (a fresh-clone run took over 180 s with both infra
 * workers synthesizing at once). A hook timeout here says nothing about the stack, only the load.
 */
export const SYNTH_TIMEOUT_MS = 600_000;

/**
 * Synthesize the app as `cdk synth` does (same context, same cdk-nag plugin, the cfn-guard plugin when
 * asked for) into a temp dir. Bundling is skipped unless asked for: infra tests look at the template, and
 * bundling six functions costs most of a minute on CI. cfn-guard is skipped unless asked for
 * too: it only reports on the template (the template is the same with it), and its binary took
 * most of each synthesis on the CI machine (minutes under load). The tests that assert there is
 * no unacknowledged guard finding ask for it (addons-stack on the whole deployed app,
 * bastion-stack on what the bastion adds or changes); `npm run synth` in CI runs it as well.
 */
export interface SynthesisOptions {
  bundle?: boolean;
  /** Extra context, as `-c name=value` gives it (e.g. `{ bastion: 'true' }`). */
  context?: Record<string, string>;
  /**
   * Run cfn-guard (the Control Tower controls) too, for `guardFindings`: on every resource (`true`),
   * or (`'changes'`) only on the resources that are not the same as in the default synthesis (no
   * `context`), whose own check with `guard: true` covers the others (`guardOfChanges` says why):
   * on the bastion's template, the binary took 15 s instead of 197 s (load 7-8).
   */
  guard?: boolean | 'changes';
}

export const synthesizeAddons = (options: SynthesisOptions = {}): SynthesizedStack => {
  // Synthesis is read-only for the tests: the infra files share one per worker (vitest.config.ts
  // runs them without isolation), so CI synthesizes once or twice instead of once per file. One
  // checked with cfn-guard serves a file that does not ask for it as well.
  const key = `${options.bundle ? 'bundled' : 'template'}${JSON.stringify(options.context ?? {})}`;
  const checked = synthesized.get(`${key}+guard`);
  const cached =
    checked ??
    (options.guard === 'changes' ? synthesized.get(`${key}+guard-changes`) : undefined) ??
    (options.guard ? undefined : (synthesized.get(`${key}+guard-changes`) ?? synthesized.get(key)));
  if (cached) return cached;
  const fresh = synthesizeOnce(options);
  const suffix = options.guard === 'changes' ? '+guard-changes' : options.guard ? '+guard' : '';
  synthesized.set(`${key}${suffix}`, fresh);
  return fresh;
};

const synthesized = new Map<string, SynthesizedStack>();

const synthesizeOnce = (options: SynthesisOptions): SynthesizedStack => {
  const outdir = mkdtempSync(join(tmpdir(), 'addons-cdk-'));
  try {
    const context = {
      ...cdkJsonContext(),
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    };
    const guard = options.guard ?? false;
    // The resources the default synthesis has alike, for `guard: 'changes'`.
    const baseline =
      guard === 'changes' ? synthesizeAddons({ bundle: options.bundle }).json.Resources : undefined;
    const { app, stack } = createAddonsApp({ context, outdir }, { guard: guard === true });
    const guardChecked: string[] = [];
    if (baseline) Validations.of(app).addPlugins(guardOfChanges(baseline, guardChecked));
    let failure: unknown;
    try {
      app.synth();
    } catch (error) {
      // cdk-nag and cfn-guard findings fail synthesis; the report says which.
      failure = error;
    }
    const reportFile = join(outdir, 'validation-report.json');
    const report = existsSync(reportFile)
      ? (JSON.parse(readFileSync(reportFile, 'utf8')) as {
          pluginReports: Array<{ pluginName: string; violations: ValidationViolation[] }>;
        })
      : { pluginReports: [] };
    const violations = (plugin: (name: string) => boolean) =>
      report.pluginReports
        .filter((entry) => plugin(entry.pluginName))
        .flatMap((entry) => entry.violations)
        .map((violation) => ({
          rule: violation.ruleName,
          paths: violation.violatingConstructs.map((construct) => construct.constructPath),
        }));
    const nagFindings = violations((name) => name === 'AwsSolutions');
    const guardFindings = violations((name) => name === GUARD_PLUGIN_NAME);
    if (failure && nagFindings.length === 0 && guardFindings.length === 0) throw failure;
    const templateFile = join(outdir, `${stack.artifactId}.template.json`);
    const json = JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate;
    if (guard === true) guardChecked.push(...Object.keys(json.Resources));
    return {
      stack,
      template: Template.fromJSON(json),
      json,
      nagFindings,
      get guardFindings() {
        if (!guard) throw new Error('synthesized without cfn-guard: ask synthesizeAddons({ guard: true })');
        return guardFindings;
      },
      get guardChecked() {
        if (!guard) throw new Error('synthesized without cfn-guard: ask synthesizeAddons({ guard: true })');
        return guardChecked;
      },
      annotations: violations((name) => name !== 'AwsSolutions' && name !== GUARD_PLUGIN_NAME),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

/** The logical IDs a resource names in `Ref` and `Fn::GetAtt`: all a Control Tower rule follows. */
const referencesOf = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(referencesOf);
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    if (key === 'Ref' && typeof inner === 'string') return [inner];
    if (key === 'Fn::GetAtt') {
      const target = Array.isArray(inner)
        ? inner[0]
        : typeof inner === 'string'
          ? inner.split('.')[0]
          : undefined;
      if (typeof target === 'string') return [target];
    }
    return referencesOf(inner);
  });
};

/**
 * The Control Tower validator on the resources that may have other findings than in `baseline`.
 * Each rule reads one resource's properties, and of the resources it references (`Ref`,
 * `Fn::GetAtt`) only whether they exist and their type (`check_local_references` in every rule
 * file that follows one). So a resource the same as in `baseline`, whose references name resources
 * of the same types there, has the same findings: the baseline's check covers it. The others are
 * checked in a copy of the template where every other resource keeps only its type (so that
 * references resolve as in the whole template), and only their findings are kept. The findings name
 * the real template, so the app's acknowledgements and construct paths apply to them as to the whole
 * validator's. The checked logical IDs are added to `checked`.
 */
const guardOfChanges = (baseline: CfnTemplate['Resources'], checked: string[]): IPolicyValidationPlugin => {
  const validator = controlTowerValidator();
  return {
    name: validator.name,
    version: validator.version,
    ruleIds: validator.ruleIds,
    validate: (context) => {
      const dir = mkdtempSync(join(tmpdir(), 'addons-guard-'));
      try {
        const originals = new Map<string, string>();
        const inScope = new Set<string>();
        for (const templatePath of context.templatePaths) {
          const template = JSON.parse(readFileSync(templatePath, 'utf8')) as CfnTemplate;
          const resources = template.Resources;
          const sameType = (id: string) => resources[id]?.Type === baseline[id]?.Type;
          const changed = Object.keys(resources).filter(
            (id) =>
              !isDeepStrictEqual(resources[id], baseline[id]) || !referencesOf(resources[id]).every(sameType),
          );
          checked.push(...changed);
          for (const id of changed) inScope.add(id);
          const copy = join(dir, basename(templatePath));
          const reduced = Object.fromEntries(
            Object.entries(resources).map(([id, resource]) => [
              id,
              inScope.has(id) ? resource : { Type: resource.Type },
            ]),
          );
          writeFileSync(copy, JSON.stringify({ ...template, Resources: reduced }));
          originals.set(copy, templatePath);
        }
        const report = validator.validate({ ...context, templatePaths: [...originals.keys()] });
        const violations = report.violations
          .map((violation) => ({
            ...violation,
            violatingResources: violation.violatingResources
              .filter((resource) => inScope.has(resource.resourceLogicalId))
              .map((resource) => ({
                ...resource,
                templatePath: originals.get(resource.templatePath) ?? resource.templatePath,
              })),
          }))
          .filter((violation) => violation.violatingResources.length > 0);
        return { ...report, success: violations.length === 0, violations };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
};

export const resourcesOfType = (json: CfnTemplate, type: string) =>
  Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
