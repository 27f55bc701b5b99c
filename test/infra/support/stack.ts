import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import type { AddonsStack } from '#infra/aws/addons-stack.ts';
import { GUARD_PLUGIN_NAME } from '#infra/aws/guard.ts';

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
   * asked for with `guard: true` has them: reading them from one without throws.
   */
  guardFindings: Array<{ rule: string; paths: string[] }>;
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
 * no unacknowledged guard finding ask for it (addons-stack, bastion-stack); `npm run synth` in CI
 * runs it as well.
 */
export interface SynthesisOptions {
  bundle?: boolean;
  /** Extra context, as `-c name=value` gives it (e.g. `{ bastion: 'true' }`). */
  context?: Record<string, string>;
  /** Run cfn-guard (the Control Tower controls) too, for `guardFindings`. */
  guard?: boolean;
}

export const synthesizeAddons = (options: SynthesisOptions = {}): SynthesizedStack => {
  // Synthesis is read-only for the tests: the infra files share one per worker (vitest.config.ts
  // runs them without isolation), so CI synthesizes once or twice instead of once per file. One
  // checked with cfn-guard serves a file that does not ask for it as well.
  const key = `${options.bundle ? 'bundled' : 'template'}${JSON.stringify(options.context ?? {})}`;
  const cached = synthesized.get(`${key}+guard`) ?? (options.guard ? undefined : synthesized.get(key));
  if (cached) return cached;
  const fresh = synthesizeOnce(options);
  synthesized.set(options.guard ? `${key}+guard` : key, fresh);
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
    const { app, stack } = createAddonsApp({ context, outdir }, { guard });
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
    return {
      stack,
      template: Template.fromJSON(json),
      json,
      nagFindings,
      get guardFindings() {
        if (!guard) throw new Error('synthesized without cfn-guard: ask synthesizeAddons({ guard: true })');
        return guardFindings;
      },
      annotations: violations((name) => name !== 'AwsSolutions' && name !== GUARD_PLUGIN_NAME),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

export const resourcesOfType = (json: CfnTemplate, type: string) =>
  Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
