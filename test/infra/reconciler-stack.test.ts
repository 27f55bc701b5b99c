import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { functionEnvironment } from './support/intrinsics.ts';
import { SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

let synthesized: SynthesizedStack;
beforeAll(() => {
  synthesized = synthesizeAddons();
}, SYNTH_TIMEOUT_MS);

describe('the reconciler in the AWS stack', () => {
  it('runs every five minutes for operations and hourly for leftovers', () => {
    const functionId = logicalIdOf(synthesized, synthesized.stack.reconciler.function.function);
    const ruleOf = (rate: string, leftovers: boolean) =>
      synthesized.template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: rate,
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
            Input: JSON.stringify({ leftovers }),
          }),
        ],
      });
    ruleOf('rate(5 minutes)', false);
    ruleOf('rate(1 hour)', true);
  });

  it("knows this deployment's tag, names and every workflow", () => {
    const env = functionEnvironment(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.reconciler.function.function),
    );
    expect(env).toMatchObject({
      DEPLOYMENT_NAME: 'Addons',
      SECRET_NAME_PREFIX: 'addons/Addons/',
      SCHEDULE_GROUP_NAME: 'Addons-backups',
      PROVISION_ADDON_STATE_MACHINE_ARN: expect.stringContaining(':stateMachine:'),
      DELETE_ADDON_STATE_MACHINE_ARN: expect.stringContaining(':stateMachine:'),
      BACKUP_ADDON_STATE_MACHINE_ARN: expect.stringContaining(':stateMachine:'),
      RESTORE_ADDON_STATE_MACHINE_ARN: expect.stringContaining(':stateMachine:'),
    });
  });

  it('has no cdk-nag finding of its own', () => {
    expect(
      synthesized.nagFindings.filter((finding) =>
        finding.paths.some((path) => path.includes('/Reconciler/')),
      ),
    ).toEqual([]);
  });
});
