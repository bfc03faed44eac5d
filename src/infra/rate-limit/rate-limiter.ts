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

/** Fixed-window counters keyed by rule and subject (IP, account, phone...). */
export interface RateLimiter {
  consume(rule: RateLimitRule, key: string, cost?: number): Promise<RateLimitResult>;
  reset(rule: RateLimitRule, key: string): Promise<void>;
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

  async reset(rule: RateLimitRule, key: string): Promise<void> {
    this.windows.delete(`${rule.name}:${key}`);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [id, w] of this.windows) if (w.resetAt <= now) this.windows.delete(id);
  }
}

const CONSUME_SCRIPT = `
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
if c == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {c, ttl}`;

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
    clock: Clock,
    private readonly logger: Logger,
  ) {
    this.fallback = new MemoryRateLimiter(clock);
  }

  async consume(rule: RateLimitRule, key: string, cost = 1): Promise<RateLimitResult> {
    try {
      const [count, ttl] = (await this.redis.eval(
        CONSUME_SCRIPT,
        1,
        `${this.prefix}rl:${rule.name}:${key}`,
        cost,
        rule.windowMs,
      )) as [number, number];
      return result(rule, count, ttl);
    } catch (err) {
      const now = Date.now();
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now;
        this.logger.warn(
          { err, rule: rule.name },
          'rate limiter: Redis unavailable, using per-process counters',
        );
      }
      return this.fallback.consumeSync(rule, key, cost);
    }
  }

  async reset(rule: RateLimitRule, key: string): Promise<void> {
    await this.fallback.reset(rule, key);
    try {
      await this.redis.del(`${this.prefix}rl:${rule.name}:${key}`);
    } catch {
      // the window expires by itself
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
