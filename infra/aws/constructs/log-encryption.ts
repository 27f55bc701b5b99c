import { Arn, ArnFormat, Aspects, type IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { CfnLogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { denyGrantsToNonServices } from '../guard.ts';

/**
 * Every CloudWatch log group of the stack encrypted with one customer-managed key (Control
 * Tower CT.CLOUDWATCH.PR.3). Job and workflow logs can carry database names, hosts and error
 * text; the key keeps them readable only through CloudWatch Logs in this account.
 *
 * An aspect sets the key on every `AWS::Logs::LogGroup` the stack defines, so each feature
 * construct keeps creating its log groups as before and a new one cannot be forgotten.
 */
export class LogEncryption extends Construct {
  readonly key: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new Key(this, 'Key', {
      description: `${stack.stackName}: CloudWatch log groups`,
      enableKeyRotation: true,
      // Logs retained past a stack deletion must stay readable.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    const service = new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [service],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': Arn.format(
              {
                service: 'logs',
                resource: 'log-group',
                resourceName: '*',
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              },
              stack,
            ),
          },
        },
      }),
    );
    denyGrantsToNonServices(this.key);
    const keyArn = this.key.keyArn;
    const encryptLogGroups: IAspect = {
      visit(node: IConstruct) {
        if (node instanceof CfnLogGroup && node.kmsKeyId === undefined) node.kmsKeyId = keyArn;
      },
    };
    Aspects.of(stack).add(encryptLogGroups);
  }
}
