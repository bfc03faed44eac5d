import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/infra/logger.js';
import { createRealtimePublisher } from '../../src/infra/realtime/publisher.js';
import type { Redis } from '../../src/infra/redis.js';
import type { Gateway } from '../../src/realtime/gateway.js';

describe('realtime publisher through the Redis emitter (no local sockets)', () => {
  it('a failed publish is logged, never an unhandled rejection (which would end the process)', async () => {
    const publish = vi.fn(() => Promise.reject(new Error("Stream isn't writeable")));
    const warn = vi.fn();
    const publisher = createRealtimePublisher(
      { attached: false } as unknown as Gateway,
      { client: { publish } as unknown as Redis, prefix: 'test:' },
      { warn } as unknown as Logger,
    );
    publisher.emit('user:1', 'location:share_ended', { shareId: 's', reason: 'stopped' });
    publisher.leave('user:1', 'group:1');
    publisher.join('user:1', 'group:1');
    publisher.disconnect('session:1');
    await new Promise((r) => setTimeout(r, 10));
    expect(publish).toHaveBeenCalledTimes(4);
    expect(warn).toHaveBeenCalledTimes(4);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.any(Error) }),
      'realtime publish failed',
    );
  });
});
