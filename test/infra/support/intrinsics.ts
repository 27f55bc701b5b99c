import type { CfnTemplate } from './stack.ts';

/** The account the tests pretend the stack is deployed to. */
export const FAKE_ENV = { partition: 'aws', region: 'eu-west-1', account: '123456789012' } as const;

const arn = (service: string, resource: string) =>
  `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;

/**
 * What `Ref` returns per resource type, with the logical id standing in for the generated
 * physical name (lower-cased where AWS lower-cases names, as RDS does).
 */
const refOf = (logicalId: string, type: string): string => {
  switch (type) {
    case 'AWS::StepFunctions::StateMachine':
      return arn('states', `stateMachine:${logicalId}`);
    case 'AWS::RDS::DBSubnetGroup':
    case 'AWS::RDS::DBParameterGroup':
      return logicalId.toLowerCase();
    case 'AWS::EC2::VPC':
      return `vpc-${logicalId.toLowerCase()}`;
    case 'AWS::EC2::SecurityGroup':
      return `sg-${logicalId.toLowerCase()}`;
    case 'AWS::KMS::Key':
      return `key-${logicalId.toLowerCase()}`;
    case 'AWS::S3::Bucket':
      return logicalId.toLowerCase();
    case 'AWS::ECS::TaskDefinition':
      return arn('ecs', `task-definition/${logicalId}:1`);
    case 'AWS::Lambda::Function':
      return logicalId;
    // Ref to a secret is its ARN, which ends in a random suffix.
    case 'AWS::SecretsManager::Secret':
      return arn('secretsmanager', `secret:${logicalId}-AbCdEf`);
    default:
      return logicalId;
  }
};

const getAttOf = (logicalId: string, type: string, attribute: string): string => {
  const ref = refOf(logicalId, type);
  if (attribute === 'Arn') {
    switch (type) {
      case 'AWS::KMS::Key':
        return arn('kms', `key/${ref}`);
      case 'AWS::DynamoDB::Table':
        return arn('dynamodb', `table/${ref}`);
      case 'AWS::Logs::LogGroup':
        return arn('logs', `log-group:${ref}:*`);
      case 'AWS::Lambda::Function':
        return arn('lambda', `function:${ref}`);
      case 'AWS::IAM::Role':
        return `arn:${FAKE_ENV.partition}:iam::${FAKE_ENV.account}:role/${ref}`;
      case 'AWS::S3::Bucket':
        return `arn:${FAKE_ENV.partition}:s3:::${ref}`;
      case 'AWS::ECS::Cluster':
        return arn('ecs', `cluster/${ref}`);
      case 'AWS::SQS::Queue':
        return arn('sqs', ref);
      case 'AWS::Events::EventBus':
        return arn('events', `event-bus/${ref}`);
      default:
        return arn(type.split('::')[1]?.toLowerCase() ?? 'unknown', ref);
    }
  }
  if (attribute === 'GroupId') return ref;
  return `${ref}.${attribute}`;
};

/** Resolve the intrinsics CDK puts in environments and policies, as CloudFormation would in FAKE_ENV. */
export const resolveIntrinsics = (value: unknown, template: CfnTemplate): unknown => {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, template));
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1) {
    const [key] = keys as [string];
    const argument = object[key];
    if (key === 'Ref') {
      const name = String(argument);
      if (name === 'AWS::Partition') return FAKE_ENV.partition;
      if (name === 'AWS::Region') return FAKE_ENV.region;
      if (name === 'AWS::AccountId') return FAKE_ENV.account;
      if (name === 'AWS::URLSuffix') return 'amazonaws.com';
      if (name === 'AWS::StackName') return 'Addons';
      const resource = template.Resources[name];
      if (!resource) throw new Error(`Ref to unknown resource ${name}`);
      return refOf(name, resource.Type);
    }
    if (key === 'Fn::GetAtt') {
      const [logicalId, attribute] = argument as [string, string];
      const resource = template.Resources[logicalId];
      if (!resource) throw new Error(`GetAtt of unknown resource ${logicalId}`);
      return getAttOf(logicalId, resource.Type, attribute);
    }
    if (key === 'Fn::Split') {
      const [separator, source] = argument as [string, unknown];
      return String(resolveIntrinsics(source, template)).split(separator);
    }
    if (key === 'Fn::Select') {
      const [index, list] = argument as [number, unknown];
      return (resolveIntrinsics(list, template) as unknown[])[Number(index)];
    }
    if (key === 'Fn::Join') {
      const [separator, parts] = argument as [string, unknown[]];
      return parts.map((part) => String(resolveIntrinsics(part, template))).join(separator);
    }
  }
  return Object.fromEntries(keys.map((key) => [key, resolveIntrinsics(object[key], template)]));
};

/** The environment variables of a function, resolved. */
export const functionEnvironment = (template: CfnTemplate, logicalId: string): Record<string, string> => {
  const resource = template.Resources[logicalId];
  const variables = (resource?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
    ?.Variables;
  return resolveIntrinsics(variables ?? {}, template) as Record<string, string>;
};
