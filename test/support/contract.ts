import { readFileSync } from 'node:fs';
import {
  createInstance,
  getHttpOperationsFromSpec,
  type IHttpRequest,
  type IHttpResponse,
} from '@stoplight/prism-http';

/**
 * Checks every exchange of the e2e suites against the committed openapi.json with Stoplight
 * Prism's validator (the one a new user runs in proxy mode), not with code of ours: Prism routes
 * the request to its operation, validates the request (parameters, headers, security, body and its
 * media type) and the response (status code, media type, body, headers) with ajv and ajv-formats
 * (Prism reads the 3.1 schemas as draft-07: the document uses no keyword whose meaning differs,
 * no `prefixItems`, `const`, `$defs` or `$ref` with siblings). We only supply the transport
 * (`forward`: a plain fetch) and judge the diagnostics:
 * - a request the document forbids is consistent when the API refuses it (4xx) and a mismatch when
 *   the API accepts it (2xx, 3xx) or fails on it (5xx);
 * - any diagnostic about the response (undocumented status, media type, body or header) is a
 *   mismatch, whatever the request was;
 * - a response with a body where the document describes none is a mismatch too (Prism skips the
 *   media-type check when a response documents no content), and so is a media type that is not
 *   exactly a documented one (Prism lets application/json pass for application/problem+json).
 * Presigned S3 URLs the tests fetch directly (downloads, uploads) are not the API: the document
 * describes the link, not the object store behind it.
 */

type Operation = Awaited<ReturnType<typeof getHttpOperationsFromSpec>>[number];
type Diagnostic = { message: string; severity: number; path?: string[]; code?: string | number };
type Prism = ReturnType<typeof createInstance>;
type Components = Parameters<typeof createInstance>[1];

/** Raised by the client: the test fails with the route, the field and the schema that disagree. */
export class ContractMismatchError extends Error {
  override name = 'ContractMismatchError';
}

const DOCUMENT_URL = new URL('../../openapi.json', import.meta.url);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;

/**
 * The document as the check reads it: every object a response describes with `properties` and no
 * `additionalProperties` is closed, `$ref`s inlined (their components may serve requests too).
 * The published document leaves responses open, so a client may ignore a field added later; the
 * tests hold the API to naming every field it answers, so none goes undocumented.
 */
export const closedResponses = (document: Json): Json => {
  const components = ((document.components as Json | undefined)?.schemas ?? {}) as Json;
  const close = (schema: unknown, depth: number): unknown => {
    if (depth > 64) throw new Error('openapi.json: response schemas nest deeper than 64 levels');
    if (Array.isArray(schema)) return schema.map((item) => close(item, depth + 1));
    if (!isObject(schema)) return schema;
    const ref = schema.$ref;
    if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
      const { $ref: _ref, ...siblings } = schema;
      const target = close(components[ref.slice('#/components/schemas/'.length)], depth + 1) as Json;
      return Object.keys(siblings).length > 0 ? { ...target, ...siblings } : target;
    }
    const closed: Json = Object.fromEntries(
      Object.entries(schema).map(([key, value]) => [
        key,
        key === 'properties' && isObject(value)
          ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, close(sub, depth + 1)]))
          : close(value, depth + 1),
      ]),
    );
    if (isObject(schema.properties) && !('additionalProperties' in schema))
      closed.additionalProperties = false;
    return closed;
  };
  const copy = structuredClone(document);
  for (const pathItem of Object.values((copy.paths ?? {}) as Json)) {
    for (const operation of Object.values(pathItem as Json)) {
      if (!isObject(operation) || !isObject(operation.responses)) continue;
      for (const response of Object.values(operation.responses)) {
        if (!isObject(response) || !isObject(response.content)) continue;
        for (const media of Object.values(response.content)) {
          if (isObject(media) && media.schema !== undefined) media.schema = close(media.schema, 0);
        }
      }
    }
  }
  return copy;
};

let operations: Promise<Operation[]> | undefined;
const loadOperations = () => {
  operations ??= getHttpOperationsFromSpec(closedResponses(JSON.parse(readFileSync(DOCUMENT_URL, 'utf8'))));
  return operations;
};

/** Prism wants a pino logger; it only writes to it from the mock and the forwarder we replace. */
const silentLogger = (): Components['logger'] => {
  const logger = {
    child: () => logger,
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
    fatal: () => {},
    success: () => {},
  };
  return logger as unknown as Components['logger'];
};

export interface Exchange {
  request: IHttpRequest;
  /** Sends the request for real; its answer is what Prism validates. */
  send: () => Promise<IHttpResponse>;
}

export interface CheckedExchange {
  response: IHttpResponse;
  /** Everything that disagrees with the document; empty when the exchange matches it. */
  mismatches: string[];
}

const where = (operation: Operation | undefined, request: IHttpRequest) =>
  operation
    ? `${operation.method.toUpperCase()} ${operation.path} (${operation.iid ?? operation.id})`
    : `${request.method.toUpperCase()} ${request.url.path} (no operation in openapi.json)`;

const describe = (diagnostic: Diagnostic, schemaAt: (path: string[]) => string) => {
  const field = diagnostic.path?.length ? diagnostic.path.join('.') : '(whole)';
  return `${field}: ${diagnostic.message}${diagnostic.code !== undefined ? ` [${diagnostic.code}]` : ''} — schema ${schemaAt(diagnostic.path ?? [])}`;
};

const pointer = (...segments: string[]) =>
  `#/${segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;

const prismFor = (forward: Components['forward'], validateRequest: boolean): Prism =>
  createInstance(
    {
      isProxy: true,
      upstream: new URL('http://127.0.0.1/'),
      upstreamProxy: undefined,
      checkSecurity: validateRequest,
      validateRequest,
      validateResponse: true,
      // Forward even what the document forbids: the API's answer decides whether it is a mismatch.
      errors: false,
      mock: { dynamic: false },
    },
    { logger: silentLogger(), forward },
  );

/** Sends the exchange through Prism in proxy mode and returns the answer with the mismatches found. */
export const checkExchange = async ({ request, send }: Exchange): Promise<CheckedExchange> => {
  const resources = await loadOperations();
  let response: IHttpResponse | undefined;
  let matched: Operation | undefined;
  const forward: Components['forward'] = (_input, _baseUrl, _proxy, resource) => (_logger) => async () => {
    matched = resource;
    try {
      response ??= await send();
      return { _tag: 'Right', right: response };
    } catch (error) {
      return { _tag: 'Left', left: error as Error };
    }
  };
  let unreadable: Diagnostic | undefined;
  let result: Awaited<ReturnType<ReturnType<Prism['request']>>>;
  try {
    result = await prismFor(forward, true).request(request, resources)();
  } catch (error) {
    // Prism throws on what it cannot even parse (a malformed percent-escape in the path): a request
    // the document cannot describe, so only a refusal is consistent. The response is still checked.
    unreadable = { message: `Prism cannot read the request: ${(error as Error).message}`, severity: 0 };
    result = await prismFor(forward, false).request(request, resources)();
  }
  if (result._tag === 'Left') {
    if (response === undefined) throw result.left;
    return { response, mismatches: [`Prism could not check the exchange: ${result.left.message}`] };
  }
  if (unreadable) result.right.validations.input.push(unreadable);
  const answer = result.right.output;
  const status = answer.statusCode;
  const path = matched ? `paths${pointer(matched.path, matched.method).slice(1)}` : '';
  const requestSchema = (fieldPath: string[]) => {
    const [part, name] = fieldPath;
    if (part === 'body') return `#/${path}/requestBody/content/application~1json/schema`;
    if (part && name) return `#/${path}/parameters (${part} ${name})`;
    return `#/${path}`;
  };
  const responseType = String(answer.headers?.['content-type'] ?? '').split(';')[0] ?? '';
  const responseSchema = () =>
    `#/${path}/responses/${status}/content/${responseType.replaceAll('/', '~1')}/schema`;
  const mismatches: string[] = [];
  const inputErrors = (result.right.validations.input as Diagnostic[]).filter((d) => d.severity === 0);
  if (!matched) {
    if (status < 400 || status >= 500)
      mismatches.push(`answered ${status} to a route openapi.json does not describe`);
  } else if (inputErrors.length > 0 && (status < 400 || status >= 500)) {
    mismatches.push(
      `the request breaks openapi.json but the API answered ${status}:`,
      ...inputErrors.map((d) => `  request ${describe(d, requestSchema)}`),
    );
  }
  if (matched) {
    for (const diagnostic of result.right.validations.output as Diagnostic[]) {
      mismatches.push(`  response ${status} ${describe(diagnostic, responseSchema)}`);
    }
    const documented = matched.responses.find((r) => r.code === String(status));
    const hasBody = answer.body !== undefined && answer.body !== '';
    const mediaTypes = documented?.contents?.map((content) => content.mediaType.toLowerCase()) ?? [];
    // Prism matches media types without their structured suffix (application/json passes for
    // application/problem+json); a client dispatching on the media type needs the exact one.
    if (hasBody && mediaTypes.length > 0 && !mediaTypes.includes(responseType.toLowerCase())) {
      mismatches.push(
        `  response ${status} is ${responseType || 'typeless'}; openapi.json says ${mediaTypes.join(' or ')}`,
      );
    }
    if (documented && hasBody && !documented.contents?.length) {
      mismatches.push(
        `  response ${status} has a ${responseType || 'typeless'} body; openapi.json describes none`,
      );
    }
    if (documented && !hasBody && documented.contents?.some((c) => c.schema)) {
      mismatches.push(`  response ${status} has no body; openapi.json describes one (${responseSchema()})`);
    }
  }
  if (process.env.CONTRACT_TRACE) {
    const seen = result.right.validations;
    console.info(
      `contract: ${where(matched, request)} ${status} input=${seen.input.length} output=${seen.output.length}`,
    );
  }
  if (mismatches.length > 0) mismatches.unshift(`openapi.json mismatch on ${where(matched, request)}:`);
  return { response: answer, mismatches };
};
