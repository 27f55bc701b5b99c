/**
 * Stands in for `@aws-sdk/credential-provider-node` inside the Lambda bundles (an esbuild
 * alias in ../bundling.ts). The Lambda runtime hands a function its role's credentials in
 * environment variables, and that is the only source a platform function uses; the SDK's
 * default chain would also bundle the INI-file, SSO, login, process, web-identity, container
 * and instance-metadata providers with their STS/SSO clients (about 90 KB of every bundle,
 * measured with `npm run bench -- bundles`). Tests and the local target never load this
 * module: they run the SDK's own chain.
 */
interface EnvCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

const credentialsFromEnv = async (): Promise<EnvCredentials> => {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw Object.assign(
      new Error(
        'No AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (not on Lambda?)',
      ),
      { name: 'CredentialsProviderError', tryNextLink: false },
    );
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  const expiry = process.env.AWS_CREDENTIAL_EXPIRATION;
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
    ...(expiry ? { expiration: new Date(expiry) } : {}),
  };
};

/** Same shape as the SDK's `defaultProvider(init)`: a provider of the environment's credentials. */
export const defaultProvider = (_init?: unknown) => credentialsFromEnv;

export const credentialsWillNeedRefresh = (_credentials: unknown): boolean => false;
export const credentialsTreatedAsExpired = (_credentials: unknown): boolean => false;
