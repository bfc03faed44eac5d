import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerAuth } from './http/auth.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerOpenApi } from './http/openapi.js';
import { registerGlobalRateLimit } from './http/rate-limit.js';
import { registerSecurity } from './http/security.js';
import type { Infra } from './infra/infra.js';
import { validatorFactory } from './http/validation.js';
import { createModules, type Modules } from './modules/index.js';
import { operationsRoutes } from './modules/operations/operations.routes.js';

export type App = FastifyInstance & { modules: Modules };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The composition root: one Fastify instance with every cross-cutting plugin and every module registered in
 * view, in this order: infrastructure (errors, security, docs, limits) → operations → domain modules under /v1
 * → the realtime gateway on the same HTTP server.
 */
export async function buildApp(infra: Infra): Promise<App> {
  const { config } = infra;
  const loggerInstance: FastifyBaseLogger = infra.logger;
  const app = Fastify({
    loggerInstance,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    trustProxy: config.http.trustProxy.length > 0 ? config.http.trustProxy : false,
    bodyLimit: config.http.bodyLimit,
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: 72_000,
    // Idle connections are closed by the shutdown sequence (server.ts), after a grace period for requests that
    // are already on the wire; Fastify closing them at once would reset those.
    forceCloseConnections: false,
    // Malformed HTTP (bad headers, oversized header block) still answers with the one error shape.
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      const [status, body] =
        code === 'HPE_HEADER_OVERFLOW'
          ? [431, { code: 'HEADERS_TOO_LARGE', message: 'The request headers are too large.' }]
          : [400, { code: 'BAD_REQUEST', message: 'The request is malformed.' }];
      if (socket.writable) {
        const json = JSON.stringify(body);
        socket.end(
          `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
            `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
            `Connection: close\r\n\r\n${json}`,
        );
      }
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Only JSON bodies are parsed by default; anything else is 415 unless a route adds its own parser (uploads).
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // An action sent without a body (POST /v1/events/:id/join) is read as an empty object, so routes whose body
  // is all optional need no special case, and required fields are reported by name instead of "not an object".
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body) request.body = {};
  });
  app.addHook('onResponse', async (request, reply) => {
    infra.metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  // Every API route declares what it answers: responses are serialized through the schema (nothing unlisted
  // leaks) and the OpenAPI document is complete. A route without one fails at startup, not in review.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return;
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response || !Object.keys(response).some((status) => /^[23]/.test(status))) {
      throw new Error(`${String(route.method)} ${route.url} has no 2xx or 3xx response schema`);
    }
  });
  registerErrorHandling(app);
  await registerSecurity(app, config);
  await registerOpenApi(app);
  registerGlobalRateLimit(app, infra.limiter, config.http.rateLimitPerMinute);

  const modules = createModules(infra);
  registerAuth(app, modules.accounts.authenticate);
  await app.register(operationsRoutes, { infra });
  await app.register(modules.routes, { prefix: '/v1' });

  infra.gateway.attach(
    app.server,
    infra.redis ? { client: infra.redis, prefix: config.redis.prefix } : undefined,
  );
  // Sockets close first, so clients reconnect to another node while this one finishes in-flight requests.
  app.addHook('preClose', async () => {
    await infra.gateway.close();
  });

  return Object.assign(app, { modules });
}
