import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AddonsStack } from './addons-stack.ts';
import { parseAlarmEmail } from './constructs/alarms.ts';
import { controlTowerValidator } from './guard.ts';

export const DEFAULT_STACK_NAME = 'Addons';

/** A boolean context value: `-c name=true` arrives as a string, cdk.json or tests may give a boolean. */
export const parseFlag = (name: string, value: unknown): boolean => {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(`-c ${name} must be true or false, not ${JSON.stringify(value)}`);
};

export interface AddonsAppChecks {
  /**
   * Run the Control Tower controls (cfn-guard) on the synthesized template; default true, as
   * `cdk synth` always does. Only tests that read the template turn it off: cfn-guard only reports
   * on the template (it never changes it), and the `cfn-guard` binary costs most of a synthesis.
   */
  guard?: boolean;
}

/**
 * The CDK app with cdk-nag's AwsSolutions checks and the AWS Control Tower proactive controls
 * (cfn-guard): a finding of either without an acknowledgement fails synthesis. The stack is environment-agnostic (two availability zones through Fn::GetAZs),
 * so `cdk synth` needs no account, no credentials and no context lookups: it works offline
 * on a fresh clone. `-c stackName=...` deploys a second copy into the same account;
 * `-c backupGraceDays=...` sets how long a deleted addon's backups are kept (default 7 days);
 * `-c alarmEmail=...` subscribes an address to the alarm topic; `-c bastion=true` adds the
 * Session Manager bastion (about $28 a month) that `addons tunnel` forwards a local port through.
 */
export const createAddonsApp = (props: AppProps = {}, checks: AddonsAppChecks = {}) => {
  const app = new App(props);
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  const graceDays = app.node.tryGetContext('backupGraceDays') as string | number | undefined;
  const alarmEmail = parseAlarmEmail(app.node.tryGetContext('alarmEmail'));
  const bastion = parseFlag('bastion', app.node.tryGetContext('bastion'));
  const stack = new AddonsStack(app, stackName, {
    description: 'Addons platform: managed PostgreSQL addons behind an HTTPS API',
    // `-c backupGraceDays=30`: how long a deleted addon's backups are kept.
    ...(graceDays !== undefined ? { backupGraceDays: Number(graceDays) } : {}),
    alarmEmail,
    bastion,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  if (checks.guard ?? true) Validations.of(app).addPlugins(controlTowerValidator());
  return { app, stack };
};
