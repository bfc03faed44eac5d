import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { emitAck, type TestSocket, socketTestApp } from '../helpers/sockets.js';

/** `chat:history` over the socket: cursor pages both ways, members only, and the since-join setting. */
describe('chat:history over the socket', () => {
  const suite = socketTestApp({ env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  let t: TestApp;
  beforeAll(() => {
    t = suite.t;
  });
  const connect = (who: SignedUp) => suite.connect(who);
  const history = (s: TestSocket, payload: Record<string, unknown>) =>
    emitAck<Json>(s, 'chat:history', payload) as Promise<Json>;
  const seqs = (res: Json) => (res.data.messages as Json[]).map((m) => m.seq as number);

  async function conversation(people: number, overrides: Record<string, unknown> = {}) {
    const event = await createEvent(t, { capacity: 10, ...overrides });
    const guests = await Promise.all(Array.from({ length: people }, () => signUpWithEmail(t)));
    for (const g of guests) await join(t, event.id, g);
    await t.infra.outbox.drain();
    const res = await t.app.inject({
      url: `/v1/events/${event.id}/conversation`,
      headers: event.host.headers,
    });
    return { event, host: event.host, guests, conversationId: (res.json() as Json).id as string };
  }

  it('pages backwards from the latest and forwards from any number, oldest first, with hasMore', async () => {
    const { host, conversationId } = await conversation(2);
    const h = await connect(host);
    for (let i = 1; i <= 7; i++) {
      const ack = (await emitAck<Json>(h, 'chat:send', {
        conversationId,
        clientId: `h-${i}`,
        body: `m${i}`,
      })) as Json;
      expect(ack.ok).toBe(true);
    }
    // Two "joined" system messages (1, 2), then the seven texts (3..9).
    const rest = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/messages`, headers: host.headers })
    ).json() as Json;
    expect(rest.items.map((m: Json) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const latest = await history(h, { conversationId, limit: 4 });
    expect(latest.ok).toBe(true);
    expect(seqs(latest)).toEqual([6, 7, 8, 9]);
    expect(latest.data.hasMore).toBe(true);
    expect(latest.data.messages.map((m: Json) => m.body)).toEqual(['m4', 'm5', 'm6', 'm7']);
    const older = await history(h, { conversationId, beforeSeq: 6, limit: 4 });
    expect([seqs(older), older.data.hasMore]).toEqual([[2, 3, 4, 5], true]);
    const oldest = await history(h, { conversationId, beforeSeq: 2, limit: 4 });
    expect([seqs(oldest), oldest.data.hasMore]).toEqual([[1], false]);
    expect(oldest.data.messages[0]).toMatchObject({ kind: 'system', system: { type: 'joined' } });

    const pages: number[][] = [];
    for (let after = 0, more = true; more;) {
      const page = await history(h, { conversationId, afterSeq: after, limit: 4 });
      pages.push(seqs(page));
      more = page.data.hasMore as boolean;
      after = seqs(page).at(-1)!;
    }
    expect(pages).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
    // The socket pages are the REST history, message for message.
    const all = [...oldest.data.messages, ...older.data.messages, ...latest.data.messages];
    expect(all).toEqual(rest.items);

    const both = await history(h, { conversationId, beforeSeq: 5, afterSeq: 1 });
    expect(both).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    const restBoth = await t.app.inject({
      url: `/v1/conversations/${conversationId}/messages?beforeSeq=5&afterSeq=1`,
      headers: host.headers,
    });
    expect(restBoth.statusCode).toBe(400);
    expect((restBoth.json() as Json).code).toBe('VALIDATION_FAILED');
  });

  it('is refused to anyone not in the conversation, including a member who left', async () => {
    const { event, guests, conversationId } = await conversation(1);
    const stranger = await signUpWithEmail(t);
    const s = await connect(stranger);
    expect(await history(s, { conversationId })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    const g = await connect(guests[0]!);
    expect((await history(g, { conversationId })).ok).toBe(true);
    const left = await t.app.inject({
      method: 'POST',
      url: `/v1/events/${event.id}/leave`,
      headers: guests[0]!.headers,
    });
    expect(left.statusCode).toBeLessThan(300);
    await t.infra.outbox.drain();
    expect(await history(g, { conversationId })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('with history since joining, a newcomer pages only from their arrival, both ways', async () => {
    const { event, host, conversationId } = await conversation(0);
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/conversations/${conversationId}`,
      headers: host.headers,
      payload: { historyVisibility: 'since_join' },
    });
    expect(patched.statusCode).toBe(200);
    const h = await connect(host);
    for (let i = 1; i <= 3; i++)
      await emitAck(h, 'chat:send', { conversationId, clientId: `old-${i}`, body: `old ${i}` });
    const late = await signUpWithEmail(t);
    await join(t, event.id, late);
    await t.infra.outbox.drain();
    await emitAck(h, 'chat:send', { conversationId, clientId: 'new-1', body: 'welcome' });

    const l = await connect(late);
    const latest = await history(l, { conversationId });
    expect(latest.data.messages.map((m: Json) => m.body ?? m.system.type)).toEqual(['joined', 'welcome']);
    expect(latest.data.hasMore).toBe(false);
    const [joinedSeq] = seqs(latest);
    const before = await history(l, { conversationId, beforeSeq: joinedSeq });
    expect(before.data).toEqual({ messages: [], hasMore: false });
    const forward = await history(l, { conversationId, afterSeq: 0 });
    expect(seqs(forward)).toEqual(seqs(latest));
    // The host, there from the start, sees everything.
    expect(seqs(await history(h, { conversationId }))).toEqual([1, 2, 3, 4, 5]);
  });
});
