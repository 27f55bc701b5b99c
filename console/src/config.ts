/**
 * Where the API is and how users sign in, read at start from `console/config.json` beside the
 * bundle: the local target answers it itself, the AWS stack deploys one next to the files. One
 * build serves every deployment.
 */
export type SignInConfig =
  | { kind: 'token' }
  | { kind: 'cognito'; region: string; userPoolId: string; clientId: string };

export interface ConsoleConfig {
  /** Base URL of the API, without a trailing slash; empty for the console's own origin. */
  apiUrl: string;
  signIn: SignInConfig;
}

export const loadConfig = async (): Promise<ConsoleConfig> => {
  const response = await fetch('console/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`console/config.json: HTTP ${response.status}`);
  const config = (await response.json()) as ConsoleConfig;
  return { ...config, apiUrl: config.apiUrl.replace(/\/+$/, '') };
};
