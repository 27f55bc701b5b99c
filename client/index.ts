/**
 * Typed client of the addons API, generated from openapi.json (openapi-typescript types, the
 * openapi-fetch runtime). Runs in Node 20+ and in browsers: it uses only fetch, URL and Web Crypto.
 *
 * ```ts
 * import { createAddonsClient, AddonsApiError } from 'addons-platform/client'; // or '../client/index.ts'
 *
 * const api = createAddonsClient({ baseUrl: 'http://127.0.0.1:4000', token: process.env.ADDONS_TOKEN });
 * const { addon, operation } = await api.POST('/v1/projects/{projectId}/addons', {
 *   params: { path: { projectId: 'demo' } },
 *   body: { name: 'orders', engine: 'postgresql' },
 * });
 * const ended = await api.waitForOperation('demo', operation.id, {
 *   onProgress: (op) => console.info(op.progress.step, op.progress.percent),
 * });
 * if (ended.status !== 'completed') throw new Error(ended.error?.message);
 * try {
 *   await api.GET('/v1/projects/{projectId}/addons/{addonId}', { params: { path: { projectId: 'demo', addonId: 'adn-x' } } });
 * } catch (error) {
 *   if (error instanceof AddonsApiError) console.error(error.status, error.title, error.detail, error.errors);
 * }
 * ```
 *
 * - Paths, parameters, bodies and answers are typed from the document: a wrong path or field
 *   does not compile.
 * - `GET`/`POST`/`PATCH`/`DELETE` return the answer's body and throw `AddonsApiError` (the
 *   problem's status, title, detail, field `errors`...) on any non-2xx answer. `raw` is the plain
 *   openapi-fetch client (`{ data, error, response }`) for callers who want the response itself.
 * - The bearer token (a string, or a function for tokens that refresh) goes on every request.
 * - Routes that honour an Idempotency-Key get a fresh key per call unless the caller passes one
 *   (`params: { header: { 'idempotency-key': k } }`); network failures, 429 and 503 are retried
 *   with that same key (and GETs too), so a retry never creates twice.
 * - `waitForOperation` polls an operation until it ends, with progress callbacks, an AbortSignal
 *   and a timeout: stopping the wait never aborts the operation.
 */
import createClient, {
  type Client,
  type ClientPathsWithMethod,
  type FetchResponse,
  type MaybeOptionalInit,
  type Middleware,
} from 'openapi-fetch';
import { toApiError } from './errors.ts';
import { type components, idempotentRoutes, type paths } from './generated/api.ts';
import { type WaitOptions, waitForOperation } from './operations.ts';
import { retryingFetch } from './retry.ts';

export { AddonsApiError, type FieldIssue, type Problem, WaitTimeoutError } from './errors.ts';
export type { components, operations, paths } from './generated/api.ts';
export { ENDED_STATUSES, type WaitOptions } from './operations.ts';

type Schemas = components['schemas'];
export type Addon = Schemas['Addon'];
export type AddonType = Schemas['AddonType'];
export type Operation = Schemas['Operation'];
export type Backup = Schemas['Backup'];
export type BackupSchedule = Schemas['BackupSchedule'];
export type Credentials = Schemas['Credentials'];
export type Import = Schemas['Import'];
export type CreateAddonRequest = Schemas['CreateAddonRequest'];
export type CreateBackupRequest = Schemas['CreateBackupRequest'];
export type CreateBackupScheduleRequest = Schemas['CreateBackupScheduleRequest'];
export type DownloadLink = Schemas['DownloadLink'];

export interface AddonsClientOptions {
  /** The API's root, e.g. `http://127.0.0.1:4000` (the local target) or the API Gateway URL. */
  baseUrl: string;
  /** Bearer token, or a function giving the current one (called before each request). */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof globalThis.fetch;
  /** Attempts for retryable failures (network, 429, 503) of safe requests; 3 by default, 1 = none. */
  attempts?: number;
}

type Method = 'get' | 'post' | 'patch' | 'delete';
type Media = `${string}/${string}`;
type RequiredKeysOf<T> = { [K in keyof T]: Record<never, never> extends Pick<T, K> ? never : K }[keyof T];
/** openapi-fetch's rule: the init argument is optional when nothing in it is required. */
type InitParam<Init> =
  RequiredKeysOf<Init> extends never
    ? [(Init & { [key: string]: unknown })?]
    : [Init & { [key: string]: unknown }];
type DataOf<R> = R extends { data: infer D; error?: never } ? D : never;

/** A typed call that returns the 2xx body and throws AddonsApiError otherwise. */
export type ThrowingMethod<M extends Method> = <
  P extends ClientPathsWithMethod<Client<paths>, M>,
  I extends MaybeOptionalInit<paths[P], M>,
>(
  url: P,
  ...init: InitParam<I>
) => Promise<DataOf<FetchResponse<Extract<paths[P][M], object>, I, Media>>>;

export interface AddonsClient {
  GET: ThrowingMethod<'get'>;
  POST: ThrowingMethod<'post'>;
  PATCH: ThrowingMethod<'patch'>;
  DELETE: ThrowingMethod<'delete'>;
  /** The openapi-fetch client underneath (same auth, idempotency keys and retries). */
  raw: Client<paths>;
  /** Polls an operation until it is completed, failed or aborted and returns it as it ended. */
  waitForOperation(projectId: string, operationId: string, options?: WaitOptions): Promise<Operation>;
}

const IDEMPOTENT = new Set(idempotentRoutes);

/**
 * A fresh key per call: 128 random bits. Browsers give `randomUUID` only to secure origins
 * (https, localhost), but `getRandomValues` everywhere, so a console opened over plain http by a
 * LAN address still sends keys.
 */
const newKey = (): string => {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
};

const authAndIdempotency = (token: AddonsClientOptions['token']): Middleware => ({
  async onRequest({ request, schemaPath }) {
    const bearer = typeof token === 'function' ? await token() : token;
    if (bearer) request.headers.set('authorization', `Bearer ${bearer}`);
    if (IDEMPOTENT.has(`${request.method} ${schemaPath}`) && !request.headers.has('idempotency-key')) {
      request.headers.set('idempotency-key', newKey());
    }
    return request;
  },
});

/** Creates a client; see the module comment for what it does. */
export const createAddonsClient = (options: AddonsClientOptions): AddonsClient => {
  const raw = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: retryingFetch(options.fetch ?? ((request) => globalThis.fetch(request)), options.attempts ?? 3),
  });
  raw.use(authAndIdempotency(options.token));

  const throwing =
    (method: 'GET' | 'POST' | 'PATCH' | 'DELETE') =>
    async (url: string, init?: Record<string, unknown>): Promise<unknown> => {
      // The typed surface (ThrowingMethod) is checked at the call site; here the call is generic.
      const call = raw[method] as unknown as (
        url: string,
        init?: Record<string, unknown>,
      ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
      const result = await call(url, init);
      if (!result.response.ok) throw toApiError(result.response, result.error, method, url);
      return result.data;
    };

  const client: AddonsClient = {
    GET: throwing('GET') as ThrowingMethod<'get'>,
    POST: throwing('POST') as ThrowingMethod<'post'>,
    PATCH: throwing('PATCH') as ThrowingMethod<'patch'>,
    DELETE: throwing('DELETE') as ThrowingMethod<'delete'>,
    raw,
    waitForOperation: (projectId, operationId, waitOptions) =>
      waitForOperation(
        (signal) =>
          client.GET('/v1/projects/{projectId}/operations/{operationId}', {
            params: { path: { projectId, operationId } },
            signal,
          }),
        operationId,
        waitOptions,
      ),
  };
  return client;
};
