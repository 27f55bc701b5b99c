import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Data } from './data.ts';

/** Live imports' secrets are named `<prefix><projectId>/imp-<id>`: the only ones these grants reach. */
const LIVE_IMPORT_SECRET_NAME = 'imp-*';

/**
 * Access to live imports' connection strings only: the API creates one per import (and reads it
 * back before a start), the sweep and the workflow delete them. No grant here reaches an addon's
 * connection details: the pattern ends in `/imp-*`, which addon ids (`adn-...`) never match.
 */
export const grantLiveImportSecrets = (
  data: Data,
  grantee: iam.IGrantable,
  /** `create`: put, read back, delete (the imports API); `put`: put and delete (an addon created from one); `delete`. */
  access: 'create' | 'put' | 'delete',
): void => {
  const writes = [
    'secretsmanager:CreateSecret',
    'secretsmanager:PutSecretValue',
    'secretsmanager:DeleteSecret',
    // CreateSecret with Tags is authorized as TagResource too.
    'secretsmanager:TagResource',
  ];
  const actions =
    access === 'create'
      ? [...writes, 'secretsmanager:GetSecretValue']
      : access === 'put'
        ? writes
        : ['secretsmanager:DeleteSecret'];
  const resourceName = `${data.secretNamePrefix}*/${LIVE_IMPORT_SECRET_NAME}`;
  iam.Grant.addToPrincipal({
    grantee,
    actions,
    resourceArns: [
      Arn.format(
        {
          service: 'secretsmanager',
          resource: 'secret',
          resourceName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        },
        Stack.of(data),
      ),
    ],
  });
  acknowledgeNag(
    grantee,
    `IAM5[Resource::${nagArn('secretsmanager', `secret:${resourceName}`)}]`,
    "One secret per live import, created at run time under this deployment's prefix; secret ARNs also end in a random suffix",
  );
  if (access !== 'delete')
    data.grantKeyVia(grantee, 'secretsmanager', ['kms:Decrypt', 'kms:GenerateDataKey']);
};
