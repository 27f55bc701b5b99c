import { errorMessage, type PlatformError, ProviderError, TransientError } from '../../errors.ts';

/**
 * AWS errors as the platform's named errors, so ASL Retry matches `TransientError` and a
 * failed operation carries a sentence a user can act on instead of an SDK stack trace.
 */

/**
 * The AWS error code of an SDK error: modeled RDS errors are named after their shape
 * (`DBInstanceNotFoundFault`) while the wire code drops the suffix (`DBInstanceNotFound`);
 * EC2 errors are unmodeled and keep their dotted code (`InvalidGroup.NotFound`).
 */
export const awsErrorCode = (error: unknown): string | undefined => {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { Code?: unknown }).Code;
  const name = typeof code === 'string' && code.length > 0 ? code : error.name;
  return name.replace(/(Fault|Exception)$/, '');
};

/** True when the error is one of `codes` (given without a Fault/Exception suffix). */
export const isAwsError = (error: unknown, ...codes: string[]): boolean => {
  const code = awsErrorCode(error);
  return code !== undefined && codes.includes(code);
};

const THROTTLING = new Set([
  'Throttling',
  'Throttled',
  'RequestLimitExceeded',
  'TooManyRequests',
  'RequestThrottled',
  'ProvisionedThroughputExceeded',
  'SlowDown',
]);

/** Worth retrying: the resource is busy or the service had a blip. */
const BUSY = new Set([
  'InvalidDBInstanceState',
  // A snapshot still being taken cannot be deleted yet.
  'InvalidDBSnapshotState',
  // DocumentDB: a cluster or cluster snapshot busy being created, modified or renamed.
  'InvalidDBClusterState',
  'InvalidDBClusterSnapshotState',
  'InternalFailure',
  'InternalError',
  'InternalServiceError',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'TimeoutError',
  'PriorRequestNotComplete',
  // ElastiCache: a group, user or snapshot busy with another change.
  'InvalidReplicationGroupState',
  'InvalidUserGroupState',
  'InvalidUserState',
  'InvalidSnapshotState',
  'InvalidCacheClusterState',
]);

const QUOTAS = new Set([
  'InstanceQuotaExceeded',
  'DBClusterQuotaExceeded',
  'StorageQuotaExceeded',
  'DBSubnetGroupQuotaExceeded',
  'DBParameterGroupQuotaExceeded',
  'SnapshotQuotaExceeded',
  'SecurityGroupLimitExceeded',
  'RulesPerSecurityGroupLimitExceeded',
  'ResourceLimitExceeded',
  'LimitExceeded',
  // ElastiCache
  'NodeQuotaForCustomerExceeded',
  'NodeQuotaForClusterExceeded',
  'ClusterQuotaForCustomerExceeded',
  'UserQuotaExceeded',
  'UserGroupQuotaExceeded',
]);

const INVALID_REQUEST = new Set([
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'InvalidParameter',
  'MissingParameter',
  'Validation',
  'StorageTypeNotSupported',
  'DBInstanceAlreadyExists',
  'InvalidRequest',
  // ElastiCache: a user name is unique in an account and Region.
  'DuplicateUserName',
]);

/** The deployment itself is wrong (a missing subnet group, a key RDS cannot use): an operator must act. */
const MISCONFIGURED = new Set([
  'DBSubnetGroupNotFound',
  'DBParameterGroupNotFound',
  'DBClusterParameterGroupNotFound',
  'DBSubnetGroupDoesNotCoverEnoughAZs',
  'InvalidSubnet',
  'InvalidVPCNetworkState',
  'KMSKeyNotAccessible',
  'InvalidVpcID.NotFound',
  'InvalidGroup.NotFound',
  'DecryptionFailure',
  'EncryptionFailure',
  // ElastiCache
  'CacheSubnetGroupNotFound',
  'InvalidKMSKey',
]);

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClient',
  'InvalidClientTokenId',
]);

/** Server-side faults that some SDKs model as client errors (no `$fault`). */
const SERVER_FAULTS = new Set([
  'InternalServer',
  'InternalServerError',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'Server',
  'RequestTimeout',
  'TimeoutError',
]);

/** Network failures below the SDK: no AWS error code, a Node.js one. */
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

interface SdkErrorShape {
  $fault?: 'client' | 'server';
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
  code?: string;
}

/**
 * Throttling, a server-side fault (5xx) or a network failure: the same call may succeed later.
 * Only these: a busy resource (`InvalidDBInstanceState`) is the caller's to judge.
 */
export const isTransientAwsError = (error: unknown): boolean => {
  if (error instanceof TransientError) return true;
  if (!(error instanceof Error)) return false;
  const shape = error as SdkErrorShape;
  const code = awsErrorCode(error) ?? '';
  const status = shape.$metadata?.httpStatusCode ?? 0;
  return (
    THROTTLING.has(code) ||
    shape.$retryable?.throttling === true ||
    shape.$fault === 'server' ||
    status >= 500 ||
    status === 429 ||
    SERVER_FAULTS.has(code) ||
    (shape.code !== undefined && NETWORK.has(shape.code))
  );
};

/** The error itself, or a TransientError wrapping it when trying again may help. */
export const transientOr = (error: unknown, action: string): unknown =>
  error instanceof TransientError || !isTransientAwsError(error)
    ? error
    : new TransientError(
        `AWS throttled or failed while ${action}; retrying: ${awsMessage(error)} (${awsErrorCode(error) ?? 'Unknown'})`,
        { cause: error },
      );

type Sender = { send: (...args: never[]) => Promise<unknown> };

/**
 * `client.send` with throttling, 5xx and network failures thrown as `TransientError`, so the
 * state machines' Retry (which lists TransientError) retries them instead of running the Catch
 * and compensating. Every other error is thrown unchanged for the caller to interpret. The SDK
 * has already retried a few times by then: this is what happens when that was not enough.
 * `send` is looked up at each call, so a test's aws-sdk-client-mock stub still answers.
 */
export const transientErrors = <C extends Sender>(client: C, service: string): C['send'] =>
  (async (...args: never[]) => {
    try {
      return await client.send(...args);
    } catch (error) {
      throw transientOr(error, `calling ${service}`);
    }
  }) as C['send'];

const awsMessage = (error: unknown): string => errorMessage(error).replace(/\s+/g, ' ').trim();

/**
 * Map any error an AWS call threw. `action` names what the platform was doing, in words
 * ("creating the database instance"), so the message reads well in a failed operation.
 */
export const toPlatformError = (error: unknown, action: string): PlatformError => {
  if (error instanceof TransientError || error instanceof ProviderError) return error;
  const code = awsErrorCode(error) ?? 'Unknown';
  const shape = (error ?? {}) as SdkErrorShape;
  const detail = `${awsMessage(error)} (${code})`;
  if (THROTTLING.has(code) || shape.$retryable?.throttling) {
    return new TransientError(`AWS throttled the platform while ${action}; retrying: ${detail}`, {
      cause: error,
    });
  }
  if (BUSY.has(code) || isTransientAwsError(error)) {
    return new TransientError(`AWS could not complete ${action} yet; retrying: ${detail}`, { cause: error });
  }
  if (QUOTAS.has(code)) {
    return new ProviderError(
      `An AWS quota was reached while ${action}: ${detail}. Delete unused addons or ask for a higher quota in Service Quotas, then try again.`,
      'QuotaExceeded',
      { cause: error },
    );
  }
  if (code === 'InsufficientDBInstanceCapacity' || code === 'InsufficientCacheClusterCapacity') {
    return new ProviderError(
      `AWS has no capacity for this instance class in the deployment's availability zones right now, while ${action}: ${detail}. Try another plan or try again later.`,
      'InsufficientCapacity',
      { cause: error },
    );
  }
  if (INVALID_REQUEST.has(code)) {
    return new ProviderError(`AWS rejected the request while ${action}: ${detail}`, 'InvalidRequest', {
      cause: error,
    });
  }
  if (MISCONFIGURED.has(code)) {
    return new ProviderError(
      `The deployment is misconfigured: AWS refused ${action}: ${detail}. Ask the platform operator to check the stack.`,
      'Misconfigured',
      { cause: error },
    );
  }
  if (ACCESS_DENIED.has(code)) {
    return new ProviderError(
      `The platform is not allowed to do this while ${action}: ${detail}. Its IAM policy lacks a permission.`,
      'AccessDenied',
      { cause: error },
    );
  }
  return new ProviderError(`AWS failed while ${action}: ${detail}`, 'AwsError', { cause: error });
};
