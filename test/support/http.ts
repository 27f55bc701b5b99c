import type { IHttpRequest } from '@stoplight/prism-http';
import { ContractMismatchError, checkExchange } from './contract.ts';

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

const queryOf = (search: URLSearchParams): Record<string, string | string[]> => {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(search.keys())) {
    const values = search.getAll(key);
    query[key] = values.length === 1 ? (values[0] as string) : values;
  }
  return query;
};

const parsedOrText = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * `fetch`, sent again once when a kept-alive connection turned out closed. The platform closes
 * idle connections after 5 s; a test that blocks its event loop longer (synchronous redis-cli or
 * psql calls) keeps undici from noticing, and the next request goes out on the dead socket and
 * fails with "other side closed" before the platform read a byte of it.
 */
const fetchReusing = async (url: URL | string, init: RequestInit): Promise<Response> => {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code !== 'UND_ERR_SOCKET' || cause.message !== 'other side closed') throw error;
    return fetch(url, init);
  }
};

/**
 * A small API client: what a user does with curl. Every exchange goes through the OpenAPI
 * contract check (support/contract.ts): one the committed openapi.json does not describe fails the
 * test with a ContractMismatchError naming the route, the field and the schema.
 */
export const client = (baseUrl: string, token?: string) => {
  // biome-ignore lint/suspicious/noExplicitAny: tests assert response bodies field by field
  const call = async <T = any>(
    method: string,
    path: string,
    options: {
      body?: unknown;
      rawBody?: string;
      headers?: Record<string, string>;
      token?: string | null;
    } = {},
  ): Promise<HttpResult<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    const bearer = options.token === null ? undefined : (options.token ?? token);
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const url = new URL(`${baseUrl}${path}`);
    let raw: { status: number; headers: Headers; body: unknown } | undefined;
    const send = async () => {
      const response = await fetchReusing(url, { method, headers, body });
      const text = await response.text();
      const type = response.headers.get('content-type') ?? '';
      raw = {
        status: response.status,
        headers: response.headers,
        body: type.includes('json') && text ? JSON.parse(text) : text,
      };
      return {
        statusCode: raw.status,
        headers: Object.fromEntries(response.headers),
        body: text === '' ? undefined : raw.body,
      };
    };
    const requestHeaders: Record<string, string> = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
    );
    if (body !== undefined) requestHeaders['content-length'] = String(Buffer.byteLength(body));
    const { mismatches } = await checkExchange({
      request: {
        method: method.toLowerCase() as IHttpRequest['method'],
        url: { path: url.pathname, query: queryOf(url.searchParams) },
        headers: requestHeaders,
        ...(body !== undefined
          ? { body: options.rawBody !== undefined ? parsedOrText(body) : options.body }
          : {}),
      },
      send,
    });
    if (!raw) throw new Error(`${method} ${path} was not sent`);
    if (mismatches.length > 0) throw new ContractMismatchError(mismatches.join('\n'));
    return { status: raw.status, headers: raw.headers, body: raw.body as T };
  };
  return call;
};

/**
 * A `fetch` that holds every exchange to the OpenAPI contract, like `client` above: for the
 * generated typed client (`createAddonsClient({fetch: contractFetch})`), so the routes it calls
 * are checked too. Presigned storage URLs (not the API's) pass through unchecked.
 */
export const contractFetch =
  (apiBaseUrl: string): typeof globalThis.fetch =>
  async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(apiBaseUrl)) return globalThis.fetch(request);
    const text = request.body ? await request.text() : undefined;
    const url = new URL(request.url);
    const headers = Object.fromEntries(request.headers);
    if (text !== undefined) headers['content-length'] = String(Buffer.byteLength(text));
    let response: Response | undefined;
    let responseText = '';
    const { mismatches } = await checkExchange({
      request: {
        method: request.method.toLowerCase() as IHttpRequest['method'],
        url: { path: url.pathname, query: queryOf(url.searchParams) },
        headers,
        ...(text !== undefined && text !== '' ? { body: parsedOrText(text) } : {}),
      },
      send: async () => {
        response = await fetchReusing(request.url, { method: request.method, headers, body: text });
        responseText = await response.text();
        const type = response.headers.get('content-type') ?? '';
        return {
          statusCode: response.status,
          headers: Object.fromEntries(response.headers),
          body:
            responseText === '' ? undefined : type.includes('json') ? JSON.parse(responseText) : responseText,
        };
      },
    });
    if (!response) throw new Error(`${request.method} ${url.pathname} was not sent`);
    if (mismatches.length > 0) throw new ContractMismatchError(mismatches.join('\n'));
    return new Response(responseText === '' ? null : responseText, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

/** Poll until `check` returns a value, or fail after `timeoutMs` with the last thing seen. */
export const pollUntil = async <T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 60_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
};

export const isListening = async (host: string, port: number): Promise<boolean> => {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
};
