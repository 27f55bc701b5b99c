import { Validations } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/**
 * Acknowledge one cdk-nag AwsSolutions finding on `scope` and its children, with the reason
 * it is acceptable here. Findings are acknowledged where they arise (the construct whose
 * grant or setting causes them), never stack-wide.
 */
export const acknowledgeNag = (scope: IConstruct | object, rule: string, reason: string): void => {
  if (!Construct.isConstruct(scope)) throw new Error(`Cannot acknowledge ${rule} on a non-construct`);
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
};

/** How cdk-nag renders an ARN built with `Arn.format` in a region-agnostic stack. */
export const nagArn = (service: string, resource: string): string =>
  `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:${resource}`;
