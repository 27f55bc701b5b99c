import { expect } from 'vitest';
import { type Api, operationEnded } from './operations.ts';

/** What `GET .../addons/{addonId}/credentials` answers for a SQL addon. */
export interface Credentials {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  uri: string;
}

export const credentialsOf = async (api: Api, projectId: string, addonId: string): Promise<Credentials> =>
  (await api('GET', `/v1/projects/${projectId}/addons/${addonId}/credentials`)).body;

/**
 * POSTs an addon (a fork when `body.source` is given), waits for its create to complete, and
 * returns the addon as the API shows it then: running and unlocked.
 */
export const createAndWait = async (api: Api, projectId: string, body: Record<string, unknown>) => {
  const created = await api('POST', `/v1/projects/${projectId}/addons`, { body });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const operation = await operationEnded(api, projectId, created.body.operation.id, 300_000);
  expect(operation, JSON.stringify(operation)).toMatchObject({ status: 'completed', error: null });
  const addon = (await api('GET', `/v1/projects/${projectId}/addons/${created.body.addon.id}`)).body;
  expect(addon).toMatchObject({ status: 'running', currentOperationId: null });
  return addon;
};

/** The addon's connection URI with another password. */
export const withPassword = (credentials: Credentials, password: string) => {
  const url = new URL(credentials.uri);
  url.password = encodeURIComponent(password);
  return url.toString();
};
