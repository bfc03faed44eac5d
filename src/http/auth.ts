import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor, RequestMeta } from '../shared/context.js';
import { AppError } from '../shared/errors.js';
import { errorResponses } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `required`: a valid access token or 401; `optional`: the actor when a valid token is sent; absent: the
     * route ignores credentials. Declared per route, enforced here, and reflected in the OpenAPI document.
     */
    auth?: 'required' | 'optional';
  }
  interface FastifyRequest {
    actor: Actor | null;
  }
}

export type Authenticator = (accessToken: string) => Promise<Actor>;

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer ([^\s]+)$/i.exec(header);
  if (!match)
    throw new AppError('UNAUTHENTICATED', 'Send the access token as "Authorization: Bearer <token>".');
  return match[1];
}

/** Authenticates requests by the route's declared `config.auth`, before the body is even parsed. */
export function registerAuth(app: FastifyInstance, authenticate: Authenticator): void {
  app.decorateRequest('actor', null);

  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    if (!mode || !route.schema) return;
    route.schema = {
      ...route.schema,
      security: mode === 'required' ? [{ bearerAuth: [] }] : [{ bearerAuth: [] }, {}],
      response: { ...errorResponses(401), ...(route.schema.response as object) },
    };
  });

  app.addHook('onRequest', async (request) => {
    const mode = request.routeOptions.config.auth;
    if (!mode) return;
    const token = bearer(request);
    if (!token) {
      if (mode === 'required') throw new AppError('UNAUTHENTICATED');
      return;
    }
    request.actor = await authenticate(token);
    // `userId`, not `actor`: security events name their own actor, and a line must not carry the key twice.
    request.log = request.log.child({ userId: request.actor.userId });
  });
}

/** The authenticated actor of a `config: { auth: 'required' }` route. */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new AppError('UNAUTHENTICATED');
  return request.actor;
}

export function metaOf(request: FastifyRequest): RequestMeta {
  const ua = request.headers['user-agent'];
  return {
    ip: request.ip,
    userAgent: typeof ua === 'string' ? ua : null,
    actorId: request.actor?.userId ?? null,
    log: request.log,
  };
}
