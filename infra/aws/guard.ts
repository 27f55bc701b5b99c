import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct, type IConstruct } from 'constructs';

/** The plugin name the validation report gives cfn-guard's findings. */
export const GUARD_PLUGIN_NAME = 'cdk-validator-cfnguard';

/**
 * The AWS Control Tower proactive controls, as cfn-guard rules shipped inside the package (no
 * network needed). Every rule is on: a rule that does not fit a resource is acknowledged on that
 * resource with `acknowledgeGuard`, never disabled for the whole stack.
 */
export const controlTowerValidator = (): CfnGuardValidator => new CfnGuardValidator();

/**
 * Acknowledge one Control Tower rule (its cfn-guard rule name, e.g.
 * `s3_bucket_versioning_enabled_check`) on `scope` and its children, with the reason it does
 * not apply there. Like cdk-nag acknowledgements, they sit where the resource is defined.
 */
export const acknowledgeGuard = (scope: IConstruct | object, rule: string, reason: string): void => {
  if (!Construct.isConstruct(scope)) throw new Error(`Cannot acknowledge ${rule} on a non-construct`);
  Validations.of(scope).acknowledge({ id: `${GUARD_PLUGIN_NAME}::${rule}`, reason });
};

/**
 * CT.KMS.PR.3: only AWS services (RDS, DynamoDB, Secrets Manager... acting for a caller) may
 * create grants on `key`; a principal of the account asking for a grant for itself is refused.
 */
export const denyGrantsToNonServices = (key: IKey): void => {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'GrantsOnlyForAwsServices',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
};
