import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rateLimitError, type RateLimiter, type RateLimitRule } from '../infra/rate-limit/rate-limiter.js';

/** A preHandler that limits a route per client IP (or another key taken from the request). */
export function rateLimitHook(
  limiter: RateLimiter,
  rule: RateLimitRule,
  key: (request: FastifyRequest) => string = (request) => request.ip,
) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const res = await limiter.consume(rule, key(request));
    void reply.header('x-ratelimit-limit', String(res.limit));
    void reply.header('x-ratelimit-remaining', String(res.remaining));
    if (!res.allowed) throw rateLimitError(rule, res);
  };
}

/** The API-wide per-IP budget; health and metrics probes are exempt so monitoring never locks itself out. */
export function registerGlobalRateLimit(app: FastifyInstance, limiter: RateLimiter, perMinute: number): void {
  const hook = rateLimitHook(limiter, { name: 'global-ip', limit: perMinute, windowMs: 60_000 });
  app.addHook('onRequest', async (request, reply) => {
    const url = request.url;
    if (url.startsWith('/health') || url.startsWith('/metrics')) return;
    await hook(request, reply);
  });
}
