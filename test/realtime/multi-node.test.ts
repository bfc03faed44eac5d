import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import type { Json } from '../helpers/http.js';
import { emitAck, nextEvent } from '../helpers/sockets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two real API processes behind (no) load balancer, sharing PostgreSQL and Redis, as deployed: a message sent
 * through node A reaches a member connected to node B, presence is the same on both, and someone removed through
 * node A stops receiving on node B. Embedded mode is one process by design.
 */
describe.runIf(servicesMode)('two server processes (PostgreSQL + Redis)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(2, { EVENT_CREATE_INTERVAL_SECONDS: '0' });
  }, 400_000);
  afterAll(() => cluster.close());
  const api: Cluster['api'] = (...args: Parameters<Cluster['api']>) => cluster.api(...args);
  const signUp = (node: number) => cluster.signUp(node);
  const connect = (node: number, token: string) => cluster.connect(node, token);

  it('a message sent through node A reaches a member on node B; presence and removals cross too', async () => {
    const host = await signUp(0);
    const guest = await signUp(1);
    const start = new Date(Date.now() + 24 * 3_600_000);
    const event = await api(
      0,
      'POST',
      '/v1/events',
      {
        title: 'Two nodes',
        startsAt: start.toISOString(),
        endsAt: new Date(start.getTime() + 3_600_000).toISOString(),
      },
      host.token,
    );
    await api(1, 'POST', `/v1/events/${event.id}/join`, {}, guest.token);
    let conversationId = '';
    for (let i = 0; i < 100 && !conversationId; i++) {
      const found = await api(1, 'GET', `/v1/events/${event.id}/conversation`, undefined, guest.token).catch(
        () => null,
      );
      if (found) conversationId = found.id;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(conversationId).not.toBe('');

    const onB = await connect(1, guest.token);
    const onA = await connect(0, host.token);
    const arrived = nextEvent<Json>(onB, 'chat:message', 10_000);
    const ack = (await emitAck<Json>(onA, 'chat:send', {
      conversationId,
      clientId: 'node-a-1',
      body: 'hello from A',
    })) as Json;
    expect(ack.ok).toBe(true);
    expect(await arrived).toMatchObject({ id: ack.data.message.id, body: 'hello from A' });

    // Presence is shared: the guest connected to B is online as seen from A.
    const presence = await api(0, 'GET', `/v1/users/${guest.userId}/presence`, undefined, host.token);
    expect(presence.online).toBe(true);

    // Removed through A: B's socket stops receiving the conversation within 1 s. The bound proven: the
    // removal's system message reaches the host (on A) less than 1 s after the 2xx, and by then B's socket is
    // out of the room (A's request takes the sockets out through Redis before it broadcasts the system message,
    // and Redis keeps one publisher's messages in order): B gets neither that system message, nor a message
    // sent right after it, nor one sent 1 s after the 2xx.
    const heard: Json[] = [];
    onB.on('chat:message', (m: Json) => heard.push(m));
    const removedNotice = new Promise<number>((resolve) =>
      onA.on('chat:message', (m: Json) => {
        if (m.system?.type === 'removed' && m.system.userId === guest.userId) resolve(performance.now());
      }),
    );
    await api(0, 'DELETE', `/v1/events/${event.id}/participants/${guest.userId}`, undefined, host.token);
    const acted = performance.now();
    const noticedAfterMs = (await Promise.race([removedNotice, sleep(1_000).then(() => Infinity)])) - acted;
    expect(noticedAfterMs).toBeLessThan(1_000);
    await emitAck(onA, 'chat:send', { conversationId, clientId: 'node-a-2', body: 'right after' });
    await sleep(Math.max(0, 1_000 - (performance.now() - acted)));
    await api(
      0,
      'POST',
      `/v1/conversations/${conversationId}/messages`,
      { clientId: 'node-a-3', body: 'a second later' },
      host.token,
    );
    await sleep(500);
    expect(heard).toEqual([]);
  }, 120_000);
});
