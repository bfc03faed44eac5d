import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ErrorResponse } from './schemas.js';

export const API_TAGS = [
  {
    name: 'auth',
    description: 'Sign-up, sign-in (password, SMS code, Kakao, Naver, Google), tokens and recovery.',
  },
  { name: 'me', description: 'The signed-in account: profile, sessions, password, phone, deletion.' },
  { name: 'users', description: 'Other people, as far as they are visible to the caller.' },
  { name: 'operations', description: 'Health, readiness and metrics for operators.' },
];

/**
 * The OpenAPI document is generated from the route schemas (the single source of validation, types and
 * serialization), served at /openapi.json with an interactive reference at /docs, and committed as
 * openapi.json; `npm run check` fails when the committed file drifts from the code.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  app.addSchema(ErrorResponse);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Moim API',
        version: '1',
        description:
          'Backend for real-time community apps: accounts, groups and events, chat, live location, media and ' +
          'notifications. Every error answers `{ code, message, details? }`. Realtime events are documented in ' +
          'docs/realtime.md.',
        license: { name: 'MIT' },
      },
      tags: API_TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** The document with keys in a stable order, as committed. */
export function serializeOpenApi(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
