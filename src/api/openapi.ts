// The OpenAPI 3.1 document of the admin API, made from the route table itself
// (so it cannot drift from what is served; a test checks both ways, and lints
// it). Request and response schemas are the routes' own TypeBox schemas, which
// are JSON Schema, what OpenAPI 3.1 takes.
import { errorSpec, type ErrorCode } from '../errors';
import type { ApiRoute } from './index';

/** What the document needs of a route (the transport's own routes give just as much). */
export type Documented = Pick<ApiRoute, 'method' | 'pattern' | 'summary' | 'status' | 'upload' | 'body' | 'query' | 'response' | 'download' | 'errors' | 'tag' | 'local' | 'secret'> & {
  /** Served without a session (the login). */
  readonly anonymous?: boolean;
};

export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  /** Routes the transport adds itself (the session, the password). */
  readonly extra?: readonly Documented[];
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };

/** What each group of operations is about (a group not named here is listed without a note). */
const TAG_NOTES: Readonly<Record<string, string>> = {
  session: 'logging in and out of the Manager',
  password: 'the Manager password',
  tokens: 'API tokens for scripts, Prometheus and the App Installer (docs/api.md)',
  events: 'the Manager\'s event socket',
  instances: 'app instances: create, change, start, stop, delete, clean up',
  maintenance: 'the nightly analyse of every database',
  settings: 'the Manager settings',
  backups: 'backups of instances and of the Manager database; the command file',
  restores: 'restores of instances and of the Manager database',
  jobs: 'long work (backups, restores, clean-ups, installs) and its progress',
  services: 'installed app services: state, start, stop, logs, crashes, uploads',
  certificate: 'the webserver\'s TLS certificate',
  store: 'the App Store',
  update: 'updates of the App Platform image',
  system: 'reboot, shut down, the root password',
};

export function openApiDocument(routes: readonly Documented[], options: OpenApiOptions): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  // Local routes (the admin socket's only) are left out, not marked: the document describes the
  // HTTP API, where they do not exist, and a client made from it must not call what answers 404.
  for (const route of [...(options.extra ?? []), ...routes.filter((r) => !r.local)]) {
    const tag = route.tag ?? route.pattern.split('/')[1] ?? 'api';
    tags.add(tag);
    (paths[route.pattern] ??= {})[route.method.toLowerCase()] = operation(route, tag);
  }
  return {
    openapi: '3.1.0',
    info: { title: options.title, version: options.version, license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: '/manager/api' }],
    tags: [...tags].sort().map((name) => ({ name, ...(TAG_NOTES[name] ? { description: TAG_NOTES[name] } : {}) })),
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', description: 'stable; the same code always has the same status' },
                message: { type: 'string', description: 'what went wrong and what to do, for a person' },
                field: { type: 'string', description: 'with INVALID_FIELD: the field of the body or query that was refused (the first, when several were)' },
                fields: {
                  type: 'array',
                  description: 'with INVALID_FIELD from a request taken whole or not at all (PUT /settings): every refused field with its reason',
                  items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
                },
              },
            },
          },
        },
      },
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'ap_session' },
        csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'apt_<id>_<secret>', description: 'an API token (docs/api.md), checked against its scopes: admin, read, installer, metrics' },
      },
    },
    // Either a session (with its CSRF token for changes) or an API token.
    security: [{ session: [], csrf: [] }, { bearer: [] }],
  };
}

function operation(route: Documented, tag: string): Record<string, unknown> {
  const params: Record<string, unknown>[] = [...route.pattern.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = route.query as { properties?: Record<string, Record<string, unknown>>; required?: string[] } | undefined;
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    const { description, ...rest } = schema;
    params.push({ name, in: 'query', required: query?.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
  }
  const status = String(route.status ?? 200);
  const success = route.download
    ? { description: route.download.text ? 'a text download' : 'a binary download', content: { [route.download.type]: { schema: route.download.text ? { type: 'string' } : { type: 'string', contentMediaType: route.download.type } } } }
    : { description: 'done', content: { 'application/json': { schema: route.response ?? { type: 'object' } } } };
  return {
    summary: route.summary,
    // Said where a script's author looks: a read token gets 403 TOKEN_SCOPE here.
    ...(route.secret ? { description: 'Its answer holds passwords or a whole database: an API token needs the admin scope (below /installer: installer), read is refused.' } : {}),
    operationId: `${route.method.toLowerCase()}${route.pattern.replace(/[{}]/g, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
    tags: [tag],
    ...(route.anonymous ? { security: [] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...requestBody(route),
    responses: { [status]: success, ...errorResponses(route, params.some((p) => p.in === 'path')) },
  };
}

function requestBody(route: Documented): Record<string, unknown> {
  if (route.upload) return { requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } } };
  if (route.body) return { requestBody: { required: false, content: { 'application/json': { schema: route.body } } } };
  if (route.method === 'GET' || route.method === 'DELETE') return {};
  return { requestBody: { required: false, content: { 'application/json': { schema: { type: 'object' } } } } };
}

/** One response per error status the operation can answer, naming its codes. */
function errorResponses(route: Documented, hasPathParams: boolean): Record<string, unknown> {
  const codes = new Set<ErrorCode>(route.anonymous ? [] : ['UNAUTHENTICATED', 'PASSWORD_CHANGE_REQUIRED', 'TOKEN_SCOPE', 'TOO_MANY_ATTEMPTS']);
  if (!route.anonymous && route.method !== 'GET') codes.add('CSRF');
  if (route.body || route.query || route.upload || route.method !== 'GET') codes.add('BAD_REQUEST');
  if (route.body || route.query) codes.add('INVALID_FIELD');
  if (hasPathParams) codes.add('NOT_FOUND');
  for (const code of route.errors ?? []) codes.add(code);
  codes.add('INTERNAL');
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const status = errorSpec(code).status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = { description: list.join(', '), content: { 'application/json': { schema: ERROR_REF } } };
  }
  out.default = { description: 'another error: {"error": {"code", "message", "field"?}}', content: { 'application/json': { schema: ERROR_REF } } };
  return out;
}
