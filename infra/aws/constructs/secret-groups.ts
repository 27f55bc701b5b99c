import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Data } from './data.ts';

/**
 * Secrets of secret groups (`<prefix><projectId>/sgr-<id>`, their published documents) and of
 * external services (`<prefix><projectId>/ext-<id>`, their connection details). Neither pattern
 * reaches an addon's connection details (`adn-...`) or a live import's (`imp-...`).
 *
 * - `publish`: write a group's document (CreateSecret with its tags, PutSecretValue): what
 *   re-publishes a group when a linked addon's details change (the addons function's unlink, the
 *   reconciler's sweep), besides reading the sources with `grantConnectionDetails(..., 'read')`.
 * - `sweep`: publish, and delete the document of a group whose delete a crash interrupted.
 * - `manage`: the credentials function, which serves the groups and external services: publish,
 *   read and delete documents; create and delete external services' details.
 */
export const grantSecretGroupSecrets = (
  data: Data,
  grantee: iam.IGrantable,
  access: 'publish' | 'sweep' | 'manage',
): void => {
  const writes = [
    'secretsmanager:CreateSecret',
    'secretsmanager:PutSecretValue',
    // CreateSecret with Tags is authorized as TagResource too.
    'secretsmanager:TagResource',
  ];
  const groupActions =
    access === 'publish'
      ? writes
      : access === 'sweep'
        ? [...writes, 'secretsmanager:DeleteSecret']
        : [...writes, 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue'];
  const arnOf = (resourceName: string) =>
    Arn.format(
      {
        service: 'secretsmanager',
        resource: 'secret',
        resourceName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      Stack.of(data),
    );
  const grant = (idPrefix: string, actions: string[]) => {
    const resourceName = `${data.secretNamePrefix}*/${idPrefix}-*`;
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [arnOf(resourceName)] });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('secretsmanager', `secret:${resourceName}`)}]`,
      "One secret per secret group or external service, created at run time under this deployment's prefix; secret ARNs also end in a random suffix",
    );
  };
  grant('sgr', groupActions);
  if (access === 'manage') grant('ext', [...writes, 'secretsmanager:DeleteSecret']);
  data.grantKeyVia(grantee, 'secretsmanager', ['kms:Decrypt', 'kms:GenerateDataKey']);
};
