import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { LocalFileStore, InvalidFileKeyError } from '../../src/infra/files/file-store.js';
import { createLogger } from '../../src/infra/logger.js';
import { MemoryRateLimiter, RedisRateLimiter } from '../../src/infra/rate-limit/rate-limiter.js';
import { connectRedis } from '../../src/infra/redis.js';

const silent = createLogger({ log: { level: 'silent', pretty: false } });

describe('local file store', () => {
  it('stores, reads, stats and deletes files by server-generated key', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-files-'));
    const store = new LocalFileStore(root);
    await store.put('images/ab/cd.webp', Buffer.from('hello'));
    await store.put('images/ab/stream.txt', Readable.from(['a', 'b', 'c']));
    expect(await text(await store.get('images/ab/cd.webp'))).toBe('hello');
    expect(await store.stat('images/ab/stream.txt')).toEqual({ size: 3 });
    await store.delete('images/ab/cd.webp');
    expect(await store.stat('images/ab/cd.webp')).toBeNull();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('refuses keys that could escape its folder', async () => {
    const store = new LocalFileStore(os.tmpdir());
    for (const key of ['../etc/passwd', '/abs', 'a/../../b', 'a//b', 'x\u0000y', '', 'a\\b']) {
      await expect(store.put(key, Buffer.from('x')), key).rejects.toBeInstanceOf(InvalidFileKeyError);
    }
  });
});

describe('rate limiter', () => {
  const rule = { name: 'test', limit: 3, windowMs: 60_000 };

  it('allows the limit per window and resets when the window ends', async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter({ now: () => new Date(now) });
    const results = [];
    for (let i = 0; i < 4; i++) results.push((await limiter.consume(rule, 'k')).allowed);
    expect(results).toEqual([true, true, true, false]);
    expect((await limiter.consume(rule, 'other')).allowed).toBe(true);
    now += 60_001;
    expect((await limiter.consume(rule, 'k')).allowed).toBe(true);
  });

  it.runIf(Boolean(process.env.REDIS_URL))(
    'shares counters through Redis across limiter instances (nodes)',
    async () => {
      const a = await connectRedis(process.env.REDIS_URL!);
      const b = await connectRedis(process.env.REDIS_URL!);
      const prefix = `moim:t:rl:${Date.now()}:`;
      const clock = { now: () => new Date() };
      const nodeA = new RedisRateLimiter(a, prefix, clock, silent);
      const nodeB = new RedisRateLimiter(b, prefix, clock, silent);
      const results = [];
      for (let i = 0; i < 4; i++) results.push((await (i % 2 ? nodeB : nodeA).consume(rule, 'ip')).allowed);
      expect(results).toEqual([true, true, true, false]);
      const r = await nodeA.consume(rule, 'ip');
      expect(r.retryAfterMs).toBeGreaterThan(0);
      expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
      a.disconnect();
      b.disconnect();
    },
  );

  it.runIf(Boolean(process.env.REDIS_URL))(
    'falls back to per-process limits, never unlimited, when Redis is down',
    async () => {
      const redis = await connectRedis(process.env.REDIS_URL!);
      redis.disconnect();
      const limiter = new RedisRateLimiter(redis, 'moim:t:down:', { now: () => new Date() }, silent);
      const results = [];
      for (let i = 0; i < 4; i++) results.push((await limiter.consume(rule, 'k')).allowed);
      expect(results).toEqual([true, true, true, false]);
    },
  );
});
