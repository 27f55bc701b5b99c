import type { SignInConfig } from './config.ts';

/**
 * The signed-in user's bearer token, kept in sessionStorage: it lives as long as the tab, is
 * never written to disk by the console, and a new tab signs in again.
 */
const KEY = 'addons-console.token';

export const storedToken = (): string | undefined => sessionStorage.getItem(KEY) ?? undefined;
export const storeToken = (token: string) => sessionStorage.setItem(KEY, token);
export const forgetToken = () => sessionStorage.removeItem(KEY);

/** The projects a Cognito ID token grants (`custom:projects`), or `*` for every project. */
export const projectsOfToken = (token: string): string[] | '*' | undefined => {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const raw = claims['custom:projects'];
    if (raw === '*') return '*';
    return typeof raw === 'string' ? raw.split(/[,\s]+/).filter(Boolean) : undefined;
  } catch {
    return undefined;
  }
};

export type CognitoStep =
  | { kind: 'signed-in'; idToken: string }
  | { kind: 'new-password'; session: string }
  | { kind: 'mfa'; session: string };

type CognitoConfig = Extract<SignInConfig, { kind: 'cognito' }>;

/**
 * Cognito's public JSON API, called directly: the stack's app client has no secret and allows
 * USER_PASSWORD_AUTH, so no SDK is needed (it would triple the console's size). Handles the
 * first sign-in of an administrator-created user (new password) and TOTP MFA.
 */
const cognito = async (config: CognitoConfig, action: string, body: unknown) => {
  const response = await fetch(`https://cognito-idp.${config.region}.amazonaws.com/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const result = (await response.json()) as {
    message?: string;
    AuthenticationResult?: { IdToken: string };
    ChallengeName?: string;
    Session?: string;
  };
  if (!response.ok) throw new Error(result.message ?? `Cognito answered HTTP ${response.status}`);
  if (result.AuthenticationResult)
    return { kind: 'signed-in', idToken: result.AuthenticationResult.IdToken } as const;
  if (result.ChallengeName === 'NEW_PASSWORD_REQUIRED' && result.Session)
    return { kind: 'new-password', session: result.Session } as const;
  if (result.ChallengeName === 'SOFTWARE_TOKEN_MFA' && result.Session)
    return { kind: 'mfa', session: result.Session } as const;
  throw new Error(
    `Cognito asks for ${result.ChallengeName ?? 'an unknown step'}, which the console does not support`,
  );
};

export const cognitoSignIn = (
  config: CognitoConfig,
  username: string,
  password: string,
): Promise<CognitoStep> =>
  cognito(config, 'InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: config.clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });

export const cognitoAnswer = (
  config: CognitoConfig,
  step: Exclude<CognitoStep, { kind: 'signed-in' }>,
  username: string,
  answer: string,
): Promise<CognitoStep> =>
  cognito(config, 'RespondToAuthChallenge', {
    ClientId: config.clientId,
    ChallengeName: step.kind === 'mfa' ? 'SOFTWARE_TOKEN_MFA' : 'NEW_PASSWORD_REQUIRED',
    Session: step.session,
    ChallengeResponses:
      step.kind === 'mfa'
        ? { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: answer }
        : { USERNAME: username, NEW_PASSWORD: answer },
  });
