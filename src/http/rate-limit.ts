import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimiter, RateLimitResult, RateLimitRule } from '../infra/rate-limit/rate-limiter.js';
import { AppError } from '../shared/errors.js';

function limitExceeded(rule: RateLimitRule, res: RateLimitResult): AppError {
  const retryAfter = Math.max(1, Math.ceil(res.retryAfterMs / 1000));
  return new AppError('RATE_LIMITED', undefined, {
    details: { rule: rule.name, retryAfterSeconds: retryAfter },
    headers: { 'retry-after': String(retryAfter) },
  });
}

/**
 * Counts one hit against `rule` for `key` and throws RATE_LIMITED (429 with Retry-After) when over the limit.
 * Services call it with their own keys (account, phone); routes use `rateLimitHook` for per-IP limits.
 */
export async function enforceRateLimit(
  limiter: RateLimiter,
  rule: RateLimitRule,
  key: string,
): Promise<void> {
  const res = await limiter.consume(rule, key);
  if (!res.allowed) throw limitExceeded(rule, res);
}

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
    if (!res.allowed) throw limitExceeded(rule, res);
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
