import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';

/**
 * The security headers of a JSON API (helmet's set, fixed for an API: nothing may be framed, sniffed or run),
 * computed once and added to every response. We set them ourselves rather than through @fastify/helmet, which
 * rebuilt its policy on every request and cost a tenth of the throughput. The API docs page sets its own,
 * relaxed content security policy (see openapi.ts).
 */
function securityHeaders(config: Config): Record<string, string> {
  return {
    'content-security-policy':
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-site',
    'origin-agent-cluster': '?1',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-frame-options': 'DENY',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0',
    ...(config.env === 'production'
      ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' }
      : {}),
  };
}

/** Security headers on every response, and CORS for the configured browser origins only. */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  const headers = securityHeaders(config);
  app.addHook('onRequest', async (_request, reply) => {
    void reply.headers(headers);
  });
  await app.register(cors, {
    origin: config.http.corsOrigins.length > 0 ? config.http.corsOrigins : false,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-request-id', 'idempotency-key'],
    exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining'],
    // Lets a web app on a listed origin receive the social sign-in cookie that binds the flow to its browser
    // (POST /v1/auth/oauth/:provider/authorize); the API itself authenticates with bearer tokens, not cookies.
    credentials: true,
    maxAge: 600,
  });
}
