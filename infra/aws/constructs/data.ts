import { Arn, ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type GlobalSecondaryIndexProps,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { EXPIRY_ATTRIBUTE } from '#shared/store/event-store.ts';
import { tableDefinition } from '#shared/store/table.ts';
import { denyGrantsToNonServices } from '../guard.ts';
import { acknowledgeNag, nagArn } from '../nag.ts';

export type Access = 'read' | 'write';

/** DynamoDB item actions the AddonStore and Powertools idempotency send. */
export type StoreAction = 'GetItem' | 'Query' | 'Scan' | 'PutItem' | 'UpdateItem' | 'DeleteItem';
const WRITE_ACTIONS: readonly StoreAction[] = ['PutItem', 'UpdateItem', 'DeleteItem'];

/** The attribute Powertools idempotency records and feed events expire on (a table has one). */
const IDEMPOTENCY_EXPIRY_ATTRIBUTE = EXPIRY_ATTRIBUTE;

const keyOf = (name: string | undefined) => {
  if (!name) throw new Error('tableDefinition() has a key without a name');
  return { name, type: AttributeType.STRING };
};

/**
 * The platform's data: the single DynamoDB table (the same definition dynalite gets locally),
 * the prefix of the connection-detail secrets, and the customer-managed key that encrypts
 * both and the addons' database storage. Grant helpers give each function only the actions
 * its code sends.
 */
export class Data extends Construct {
  readonly key: Key;
  readonly table: Table;
  /** Secrets are named `${prefix}${projectId}/${addonId}` (SecretsManagerStore). */
  readonly secretNamePrefix: string;
  private readonly indexNames: string[];

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new Key(this, 'Key', {
      description: `${stack.stackName}: addon metadata, connection details and database storage`,
      enableKeyRotation: true,
      // Retained database backups and snapshots stay readable after the stack is gone.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    denyGrantsToNonServices(this.key);

    const definition = tableDefinition('addons');
    const [partition, sort] = definition.KeySchema ?? [];
    const indexes: GlobalSecondaryIndexProps[] = (definition.GlobalSecondaryIndexes ?? []).map((index) => {
      const [indexPartition, indexSort] = index.KeySchema ?? [];
      return {
        indexName: index.IndexName ?? '',
        partitionKey: keyOf(indexPartition?.AttributeName),
        sortKey: keyOf(indexSort?.AttributeName),
        projectionType: ProjectionType.ALL,
      };
    });
    this.indexNames = indexes.map((index) => index.indexName);
    // Table, not TableV2: TableV2 cannot use a customer-managed key in a region-agnostic stack.
    this.table = new Table(this, 'Table', {
      partitionKey: keyOf(partition?.AttributeName),
      sortKey: keyOf(sort?.AttributeName),
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: IDEMPOTENCY_EXPIRY_ATTRIBUTE,
      // The events feed's outbox: new event items reach EventBridge through it (constructs/events.ts).
      stream: StreamViewType.NEW_IMAGE,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of indexes) this.table.addGlobalSecondaryIndex(index);
    this.secretNamePrefix = `addons/${stack.stackName}/`;
  }

  /**
   * Exactly the item actions a function's code sends, on the table and its indexes. The
   * table's key must also be usable through DynamoDB, which calls KMS with the caller's
   * permissions.
   */
  grantStore(grantee: iam.IGrantable, actions: readonly StoreAction[]): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: actions.map((action) => `dynamodb:${action}`),
      resourceArns: [
        this.table.tableArn,
        ...this.indexNames.map((name) => `${this.table.tableArn}/index/${name}`),
      ],
    });
    const writes = actions.some((action) => WRITE_ACTIONS.includes(action));
    this.grantKeyVia(
      grantee,
      'dynamodb',
      writes ? ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
    );
  }

  /** Connection-detail secrets under the prefix: read, or create/update/delete (with their tags). */
  grantConnectionDetails(grantee: iam.IGrantable, access: Access): void {
    const actions = ['secretsmanager:GetSecretValue'];
    if (access === 'write') {
      actions.push(
        'secretsmanager:CreateSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:DeleteSecret',
        // CreateSecret with Tags is authorized as TagResource too.
        'secretsmanager:TagResource',
      );
    }
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.secretArnPattern()] });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('secretsmanager', `secret:${this.secretNamePrefix}*`)}]`,
      "One secret per addon, created at run time under this deployment's prefix; secret ARNs also end in a random suffix",
    );
    this.grantKeyVia(
      grantee,
      'secretsmanager',
      access === 'write' ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
    );
  }

  /**
   * Credential rotation (rotate-credentials): the new connection details are written as the
   * AWSPENDING version (PutSecretValue, with `grantConnectionDetails` write) and moved to
   * AWSCURRENT once the engine takes them.
   */
  grantConnectionDetailStages(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:UpdateSecretVersionStage'],
      resourceArns: [this.secretArnPattern()],
    });
  }

  /** Secret ARNs end in a random suffix, and addon secrets are created at run time: a prefix pattern is the narrowest. */
  secretArnPattern(): string {
    return Arn.format(
      {
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${this.secretNamePrefix}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      Stack.of(this),
    );
  }

  /** Use of the key only through `service`, which calls KMS with the caller's permissions. */
  grantKeyVia(grantee: iam.IGrantable, service: string, actions: string[]): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.amazonaws.com` } },
    });
  }
}
