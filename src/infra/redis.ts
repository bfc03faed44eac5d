import { Redis } from 'ioredis';

/**
 * One Redis connection per process. The offline queue is off so that commands fail fast while Redis is down
 * (callers fall back or answer 503) instead of piling up in memory.
 */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface through command failures; without a listener ioredis would log them unhandled.
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

export type { Redis };
