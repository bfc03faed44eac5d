import { AppError } from '../../shared/errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';

export interface RateLimitRule {
  /** Stable name; part of the counter key, and logged when the limit is hit. */
  name: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Time until the current window resets. */
  retryAfterMs: number;
}

/**
 * Fixed-window counters keyed by rule and subject (IP, account, phone...). A window opens at the first hit and
 * lasts `windowMs` on the injected clock, on every adapter, so tests can move time and production counters
 * expire by themselves.
 */
export interface RateLimiter {
  consume(rule: RateLimitRule, key: string, cost?: number): Promise<RateLimitResult>;
  /**
   * Gives back hits counted in the current window (never below zero; nothing once the window has ended), for
   * rules that count only some outcomes: an attempt is counted before it runs, so concurrent attempts cannot
   * overshoot the limit, and given back when it turns out not to count.
   */
  release(rule: RateLimitRule, key: string, cost?: number): Promise<void>;
  reset(rule: RateLimitRule, key: string): Promise<void>;
}

/** The 429 a rule answers once its limit is passed, with Retry-After and the rule's name (logged, not secret). */
export function rateLimitError(rule: RateLimitRule, res: RateLimitResult): AppError {
  const retryAfter = Math.max(1, Math.ceil(res.retryAfterMs / 1000));
  return new AppError('RATE_LIMITED', undefined, {
    details: { rule: rule.name, retryAfterSeconds: retryAfter },
    headers: { 'retry-after': String(retryAfter) },
  });
}

/**
 * Counts one hit against `rule` for `key` and throws RATE_LIMITED (429 with Retry-After) when over the limit.
 * Services call it with their own keys (account, phone); the HTTP layer uses it for per-IP limits. The HTTP
 * error handler logs every 429 as a `rate_limited` security event.
 */
export async function enforceRateLimit(
  limiter: RateLimiter,
  rule: RateLimitRule,
  key: string,
): Promise<RateLimitResult> {
  const res = await limiter.consume(rule, key);
  if (!res.allowed) throw rateLimitError(rule, res);
  return res;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  constructor(private readonly clock: Clock) {}

  async consume(rule: RateLimitRule, key: string, cost = 1): Promise<RateLimitResult> {
    return this.consumeSync(rule, key, cost);
  }

  consumeSync(rule: RateLimitRule, key: string, cost = 1): RateLimitResult {
    const now = this.clock.now().getTime();
    this.sweep(now);
    const id = `${rule.name}:${key}`;
    let w = this.windows.get(id);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + rule.windowMs };
      this.windows.set(id, w);
    }
    w.count += cost;
    return result(rule, w.count, w.resetAt - now);
  }

  async release(rule: RateLimitRule, key: string, cost = 1): Promise<void> {
    this.releaseSync(rule, key, cost);
  }

  releaseSync(rule: RateLimitRule, key: string, cost = 1): void {
    const w = this.windows.get(`${rule.name}:${key}`);
    if (w && w.resetAt > this.clock.now().getTime()) w.count = Math.max(0, w.count - cost);
  }

  async reset(rule: RateLimitRule, key: string): Promise<void> {
    this.windows.delete(`${rule.name}:${key}`);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [id, w] of this.windows) if (w.resetAt <= now) this.windows.delete(id);
  }
}

// A window is a hash { c: count, r: reset instant in ms on the caller's clock }. The window logic runs on the
// clock passed in (so tests can move time, as with the memory adapter); Redis's own TTL only collects keys.
const CONSUME_SCRIPT = `
local now = tonumber(ARGV[3])
local reset = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if reset <= now then
  reset = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'c', 0, 'r', reset)
end
local c = redis.call('HINCRBY', KEYS[1], 'c', ARGV[1])
redis.call('PEXPIRE', KEYS[1], reset - now)
return {c, reset - now}`;

const RELEASE_SCRIPT = `
local now = tonumber(ARGV[2])
local reset = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if reset <= now then return 0 end
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local n = math.min(c, tonumber(ARGV[1]))
if n > 0 then redis.call('HINCRBY', KEYS[1], 'c', -n) end
return n`;

/**
 * Counters shared by every node through Redis. If Redis is unreachable the limiter falls back to per-process
 * counters with the same limits: degraded, but never unlimited.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly fallback: MemoryRateLimiter;
  private lastWarn = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.fallback = new MemoryRateLimiter(clock);
  }

  private key(rule: RateLimitRule, key: string): string {
    return `${this.prefix}ratelimit:${rule.name}:${key}`;
  }

  async consume(rule: RateLimitRule, key: string, cost = 1): Promise<RateLimitResult> {
    try {
      const [count, ttl] = (await this.redis.eval(
        CONSUME_SCRIPT,
        1,
        this.key(rule, key),
        cost,
        rule.windowMs,
        this.clock.now().getTime(),
      )) as [number, number];
      return result(rule, count, ttl);
    } catch (err) {
      this.warn(err, rule);
      return this.fallback.consumeSync(rule, key, cost);
    }
  }

  async release(rule: RateLimitRule, key: string, cost = 1): Promise<void> {
    try {
      await this.redis.eval(RELEASE_SCRIPT, 1, this.key(rule, key), cost, this.clock.now().getTime());
    } catch (err) {
      this.warn(err, rule);
      this.fallback.releaseSync(rule, key, cost);
    }
  }

  async reset(rule: RateLimitRule, key: string): Promise<void> {
    await this.fallback.reset(rule, key);
    try {
      await this.redis.del(this.key(rule, key));
    } catch {
      // the window expires by itself
    }
  }

  private warn(err: unknown, rule: RateLimitRule): void {
    const now = Date.now();
    if (now - this.lastWarn > 10_000) {
      this.lastWarn = now;
      this.logger.warn(
        { err, rule: rule.name },
        'rate limiter: Redis unavailable, using per-process counters',
      );
    }
  }
}

function result(rule: RateLimitRule, count: number, retryAfterMs: number): RateLimitResult {
  return {
    allowed: count <= rule.limit,
    limit: rule.limit,
    remaining: Math.max(0, rule.limit - count),
    retryAfterMs: Math.max(0, retryAfterMs),
  };
}
