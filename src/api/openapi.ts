/**
 * The OpenAPI 3.1 document of this server: one operation per registered route (onRoute, see
 * server.ts), described by route-docs.ts, with request schemas converted from the zod schemas
 * the routes validate with (z.toJSONSchema). A route without an entry in the table is still
 * listed, marked undocumented, and the OpenAPI test fails on it, so the table cannot fall behind.
 */
import { z } from 'zod';
import { ROUTE_DOCS, type RouteBody, type RouteDoc, type RouteReply, routeKey } from './route-docs.js';

type Json = Record<string, unknown>;

/** `/v1/functions/:name/invoke` to `/v1/functions/{name}/invoke`; `/hooks/*` to `/hooks/{path}` */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

function pathParams(url: string): string[] {
  return [...openApiPath(url).matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

function requestBody(body: RouteBody | undefined): Json | undefined {
  if (body === undefined) return undefined;
  if (body === 'tar')
    return {
      required: true,
      content: {
        'application/x-tar': { schema: { type: 'string', format: 'binary' } },
        'application/gzip': { schema: { type: 'string', format: 'binary' } },
      },
    };
  if (body === 'bytes')
    return {
      description: "the function's stdin, any media type",
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    };
  return { content: { 'application/json': { schema: jsonSchema(body) } } };
}

const ERROR_SCHEMA: Json = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        hint: { type: 'string' },
        details: { type: 'object' },
      },
      required: ['code', 'message'],
    },
  },
};

function responses(doc: RouteDoc): Json {
  const ok = String(doc.status ?? 200);
  const reply: RouteReply = doc.reply ?? 'json';
  const content: Record<RouteReply, Json> = {
    json: { 'application/json': { schema: { type: 'object' } } },
    bytes: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    tar: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } },
    ndjson: { 'application/x-ndjson': { schema: { type: 'string' } } },
    sse: { 'text/event-stream': { schema: { type: 'string' } } },
    text: { 'text/plain': { schema: { type: 'string' } } },
  };
  return {
    [ok]: { description: doc.summary, content: content[reply] },
    default: {
      description: 'an error: code, message and a hint (docs/api.md lists the codes)',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
  };
}

/** `get /v1/functions/{name}` to `getV1FunctionsName`; a trailing slash is a route of its own */
export function operationId(method: string, url: string): string {
  const words = openApiPath(url).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) =>
    (c ?? '').toUpperCase(),
  );
  return `${method.toLowerCase()}${words}${url.endsWith('/') ? 'Slash' : ''}`;
}

function operation(method: string, url: string, doc: RouteDoc | undefined): Json {
  const params: Json[] = pathParams(url).map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  if (!doc)
    return {
      summary: 'undocumented',
      'x-undocumented': true,
      parameters: params,
      responses: { default: { description: 'undocumented' } },
    };
  if (doc.query) {
    const q = jsonSchema(doc.query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {}))
      params.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema });
  }
  const body = requestBody(doc.body);
  return {
    operationId: operationId(method, url),
    summary: doc.summary,
    tags: [doc.tag],
    ...(doc.open ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body ? { requestBody: body } : {}),
    responses: responses(doc),
  };
}

export function openApiDocument(routes: { method: string; url: string }[], version = '0.1.0'): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const p = openApiPath(r.url);
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = operation(r.method, r.url, ROUTE_DOCS[routeKey(r.method, r.url)]);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Agni API',
      version,
      description: 'The HTTP API of an Agni server (`agni up`). docs/api.md is generated from this document.',
    },
    // relative: the document is served by the server it describes
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the server token (AGNI_TOKEN)' },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}
