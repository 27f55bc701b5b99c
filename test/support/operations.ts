import { expect } from 'vitest';
import { type client, pollUntil } from './http.ts';

/**
 * The end-to-end tests' waits on the platform's asynchronous operations, over the HTTP API as a
 * user would poll them.
 */

export type Api = ReturnType<typeof client>;

/** The states an operation does not leave. */
export const ENDED_STATUSES = ['completed', 'failed', 'aborted'];

/** Polls the operation until it ended (completed, failed or aborted) and returns it as the API shows it. */
export const operationEnded = (api: Api, projectId: string, operationId: string, timeoutMs = 120_000) =>
  pollUntil(
    () => api('GET', `/v1/projects/${projectId}/operations/${operationId}`),
    (response) => ENDED_STATUSES.includes(response.body.status),
    { what: `operation ${operationId} to end`, timeoutMs },
  ).then((response) => response.body);

/**
 * POSTs a backup of the addon at `base` (its API path) and waits for it: accepted with a 202,
 * then ended. The caller judges the operation.
 */
export const backUpAndWait = async (
  api: Api,
  projectId: string,
  base: string,
  body: Record<string, unknown>,
) => {
  const response = await api('POST', `${base}/backups`, { body });
  expect(response.status).toBe(202);
  const operation = await operationEnded(api, projectId, response.body.operation.id);
  return { backupId: response.body.backup.id as string, operation };
};
