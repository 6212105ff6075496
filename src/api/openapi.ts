// The OpenAPI 3 document of the admin API, made from the route table itself
// (so it cannot drift from what is served; a test checks both ways).
import type { ApiRoute } from './index';

export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  /** Routes the transport adds itself (the session, the password). */
  readonly extra?: readonly Pick<ApiRoute, 'method' | 'pattern' | 'summary' | 'status' | 'upload'>[];
}

export function openApiDocument(routes: readonly Pick<ApiRoute, 'method' | 'pattern' | 'summary' | 'status' | 'upload'>[], options: OpenApiOptions): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of [...(options.extra ?? []), ...routes]) {
    const params = [...route.pattern.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const status = String(route.status ?? 200);
    const operation: Record<string, unknown> = {
      summary: route.summary,
      operationId: `${route.method.toLowerCase()}${route.pattern.replace(/[{}]/g, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
      ...(params.length ? { parameters: params } : {}),
      ...(route.method === 'GET' || route.method === 'DELETE'
        ? {}
        : { requestBody: { required: false, content: route.upload ? { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } : { 'application/json': { schema: { type: 'object' } } } } }),
      responses: {
        [status]: { description: 'done', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { description: 'an error: {"error": {"code", "message", "field"?}}', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    (paths[route.pattern] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.0.3',
    info: { title: options.title, version: options.version },
    servers: [{ url: '/manager/api' }],
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } },
        },
      },
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'ap_session' }, csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' } },
    },
    security: [{ session: [], csrf: [] }],
  };
}
