import { eq } from 'drizzle-orm';
import pg from 'pg';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ADVISORY_LOCKS } from '../../src/infra/db/database.js';
import { outboxEvents } from '../../src/infra/outbox/outbox.schema.js';
import type { DomainEvent } from '../../src/shared/domain-events.js';
import { servicesMode, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { emitAck, nextEvent, type TestSocket, socketTestApp } from '../helpers/sockets.js';

describe('chat: event conversations, delivery, resume, reads, notices, edits', () => {
  const suite = socketTestApp({ env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  let t: TestApp;
  beforeAll(() => {
    t = suite.t;
  });
  const connect = (who: SignedUp) => suite.connect(who);
  const settle = () => t.infra.outbox.drain();
  /** Collects every `event` a socket receives, to check what it did and did not get. */
  const record = (s: TestSocket, event: string) => {
    const got: Json[] = [];
    s.on(event, (p: Json) => got.push(p));
    return got;
  };
  const conversationOf = async (eventId: string, who: SignedUp) =>
    t.app.inject({ url: `/v1/events/${eventId}/conversation`, headers: who.headers });
  const send = (s: TestSocket, conversationId: string, clientId: string, body: string) =>
    emitAck<Json>(s, 'chat:send', { conversationId, clientId, body });

  async function eventWithPeople(n: number, overrides: Record<string, unknown> = {}) {
    const event = await createEvent(t, { capacity: n + 1, ...overrides });
    const people = await Promise.all(Array.from({ length: n }, () => signUpWithEmail(t)));
    for (const p of people) await join(t, event.id, p);
    await settle();
    const conversationId = ((await conversationOf(event.id, event.host)).json() as Json).id as string;
    return { event, host: event.host, people, conversationId };
  }

  it('every event has a conversation for the people going; waitlisted people and strangers are not in it', async () => {
    const { event, host, people, conversationId } = await eventWithPeople(2);
    const queued = await signUpWithEmail(t);
    expect(((await join(t, event.id, queued)).json() as Json).status).toBe('waitlisted');
    const stranger = await signUpWithEmail(t);
    await settle();
    const seen = (await conversationOf(event.id, people[0]!)).json() as Json;
    expect(seen).toMatchObject({ id: conversationId, kind: 'event', eventId: event.id, role: 'member' });
    expect(((await conversationOf(event.id, host)).json() as Json).role).toBe('admin');
    for (const outsider of [queued, stranger]) {
      expect((await conversationOf(event.id, outsider)).statusCode).toBe(404);
      expect(
        (
          await t.app.inject({
            url: `/v1/conversations/${conversationId}/messages`,
            headers: outsider.headers,
          })
        ).statusCode,
      ).toBe(404);
    }
    const detail = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}`, headers: host.headers })
    ).json() as Json;
    expect(detail.members.map((m: Json) => m.user.id).sort()).toEqual(
      [host.userId, ...people.map((p) => p.userId)].sort(),
    );
  });

  it('acknowledges a message once stored, numbers it, delivers it to the members only, and a retry makes no second one', async () => {
    const {
      event: { id: eventId },
      people,
      host,
      conversationId,
    } = await eventWithPeople(2);
    const stranger = await signUpWithEmail(t);
    const [a, b, h, s] = await Promise.all([
      connect(people[0]!),
      connect(people[1]!),
      connect(host),
      connect(stranger),
    ]);
    const atB = record(b, 'chat:message');
    const atStranger = record(s, 'chat:message');
    const received = nextEvent<Json>(h, 'chat:message');
    const before = ((await conversationOf(eventId, host)).json() as Json).lastSeq as number;
    const ack = await send(a, conversationId, 'c-1', '  hello  ');
    expect(ack.ok).toBe(true);
    const message = (ack as Json).data.message;
    expect(message).toMatchObject({
      seq: before + 1,
      body: 'hello',
      clientId: 'c-1',
      sender: { id: people[0]!.userId },
    });
    // The acknowledged message is in the database.
    const stored = await t.app.inject({
      url: `/v1/conversations/${conversationId}/messages`,
      headers: host.headers,
    });
    expect((stored.json() as Json).items.map((m: Json) => m.id)).toContain(message.id);
    expect((await received).id).toBe(message.id);

    const retry = await send(a, conversationId, 'c-1', 'hello');
    expect(retry).toMatchObject({
      ok: true,
      data: { duplicate: true, message: { id: message.id, seq: before + 1 } },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(atB.map((m) => m.id)).toEqual([message.id]);
    expect(atStranger).toEqual([]);
    // A stranger cannot send either, whatever id they name.
    const refused = await send(s, conversationId, 'x-1', 'let me in');
    expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('a client that was away gets every missed message, in order, exactly once, by syncing from its last number', async () => {
    const { people, conversationId } = await eventWithPeople(2);
    const a = await connect(people[0]!);
    const first = (await send(a, conversationId, 'a-1', 'before')) as Json;
    const lastSeen = first.data.message.seq as number;
    a.close(); // b keeps talking while a is away
    const b = await connect(people[1]!);
    for (let i = 1; i <= 5; i++)
      expect((await send(b, conversationId, `b-${i}`, `missed ${i}`)).ok).toBe(true);
    const back = await connect(people[0]!);
    const sync = (await emitAck<Json>(back, 'chat:sync', { conversationId, afterSeq: lastSeen })) as Json;
    expect(sync.ok).toBe(true);
    expect(sync.data.messages.map((m: Json) => m.body)).toEqual([
      'missed 1',
      'missed 2',
      'missed 3',
      'missed 4',
      'missed 5',
    ]);
    const seqs = sync.data.messages.map((m: Json) => m.seq);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => lastSeen + 1 + i));
    expect(sync.data).toMatchObject({ lastSeq: lastSeen + 5, hasMore: false, changes: [] });
  });

  it('tracks read positions: unread counts, "read by N", and read notices to the room', async () => {
    const { people, host, conversationId } = await eventWithPeople(2);
    const h = await connect(host);
    for (let i = 1; i <= 3; i++) await send(h, conversationId, `h-${i}`, `news ${i}`);
    const list = (
      await t.app.inject({ url: '/v1/conversations', headers: people[0]!.headers })
    ).json() as Json;
    const mine = list.items.find((c: Json) => c.id === conversationId);
    expect(mine).toMatchObject({ unread: 3, lastMessage: { body: 'news 3' } });
    const hostView = (
      (await t.app.inject({ url: '/v1/conversations', headers: host.headers })).json() as Json
    ).items.find((c: Json) => c.id === conversationId);
    expect(hostView.unread).toBe(0);

    const readNotice = nextEvent<Json>(h, 'chat:read');
    const a = await connect(people[0]!);
    const read = (await emitAck<Json>(a, 'chat:read', { conversationId, seq: mine.lastSeq - 1 })) as Json;
    expect(read).toEqual({ ok: true, data: { lastReadSeq: mine.lastSeq - 1 } });
    expect(await readNotice).toEqual({ conversationId, userId: people[0]!.userId, seq: mine.lastSeq - 1 });
    // Never backwards, never past the end.
    expect(((await emitAck<Json>(a, 'chat:read', { conversationId, seq: 1 })) as Json).data.lastReadSeq).toBe(
      mine.lastSeq - 1,
    );
    expect(
      ((await emitAck<Json>(a, 'chat:read', { conversationId, seq: 10_000 })) as Json).data.lastReadSeq,
    ).toBe(mine.lastSeq);

    const page = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/messages`, headers: host.headers })
    ).json() as Json;
    const news3 = page.items.find((m: Json) => m.body === 'news 3');
    expect(news3.readCount).toBe(1); // a has read it; b has not
  });

  it('relays typing to the others only, at most once every 2 seconds', async () => {
    const { people, conversationId } = await eventWithPeople(2);
    const [a, b] = await Promise.all([connect(people[0]!), connect(people[1]!)]);
    const atA = record(a, 'chat:typing');
    const atB = record(b, 'chat:typing');
    for (let i = 0; i < 3; i++) expect((await emitAck(a, 'chat:typing', { conversationId })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(atB).toEqual([{ conversationId, userId: people[0]!.userId }]);
    expect(atA).toEqual([]);
  });

  it('one pinned notice, set by the host or admins only, announced by a system message', async () => {
    const { people, host, conversationId } = await eventWithPeople(1);
    const put = (who: SignedUp, text: string) =>
      t.app.inject({
        method: 'PUT',
        url: `/v1/conversations/${conversationId}/notice`,
        headers: who.headers,
        payload: { text },
      });
    expect((await put(people[0]!, 'I am in charge')).statusCode).toBe(403);
    const a = await connect(people[0]!);
    const notice = nextEvent<Json>(a, 'chat:notice');
    const res = await put(host, 'Meet at exit 2');
    expect(res.statusCode).toBe(200);
    expect((res.json() as Json).notice).toMatchObject({ text: 'Meet at exit 2', by: host.userId });
    expect(await notice).toMatchObject({ conversationId, text: 'Meet at exit 2' });
    const page = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/messages`, headers: host.headers })
    ).json() as Json;
    expect(page.items.at(-1)).toMatchObject({
      kind: 'system',
      system: { type: 'notice_set', userId: host.userId },
    });
    const cleared = await t.app.inject({
      method: 'DELETE',
      url: `/v1/conversations/${conversationId}/notice`,
      headers: host.headers,
    });
    expect((cleared.json() as Json).notice).toBeNull();
  });

  it('edits and deletions: own messages, admins delete any, tombstones, and sync reports the changes', async () => {
    const { people, host, conversationId } = await eventWithPeople(2);
    const a = await connect(people[0]!);
    const m1 = ((await send(a, conversationId, 'e-1', 'typo hre')) as Json).data.message;
    const m2 = ((await send(a, conversationId, 'e-2', 'rude words')) as Json).data.message;
    const base = '/v1/conversations/' + conversationId + '/messages/';
    const sync0 = (
      await t.app.inject({
        url: `/v1/conversations/${conversationId}/sync?afterSeq=${m2.seq}`,
        headers: host.headers,
      })
    ).json() as Json;

    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: base + m1.id,
          headers: people[1]!.headers,
          payload: { body: 'hijack' },
        })
      ).statusCode,
    ).toBe(403);
    const edited = await t.app.inject({
      method: 'PATCH',
      url: base + m1.id,
      headers: people[0]!.headers,
      payload: { body: 'typo here' },
    });
    expect(edited.json()).toMatchObject({ body: 'typo here', editedAt: expect.any(String) });
    expect(
      (await t.app.inject({ method: 'DELETE', url: base + m2.id, headers: people[1]!.headers })).statusCode,
    ).toBe(403);
    const removed = await t.app.inject({ method: 'DELETE', url: base + m2.id, headers: host.headers });
    expect(removed.json()).toMatchObject({ deleted: true, body: null });
    expect(
      ((await t.app.inject({ method: 'DELETE', url: base + m2.id, headers: host.headers })).json() as Json)
        .code,
    ).toBe('MESSAGE_DELETED');

    const sync = (
      await t.app.inject({
        url: `/v1/conversations/${conversationId}/sync?afterSeq=${m2.seq}&sinceChange=${sync0.lastChange}`,
        headers: host.headers,
      })
    ).json() as Json;
    expect(sync.messages).toEqual([]);
    expect(sync.changes.map((m: Json) => [m.id, m.deleted, m.body])).toEqual([
      [m1.id, false, 'typo here'],
      [m2.id, true, null],
    ]);
  });

  it('searches a conversation', async () => {
    const { people, host, conversationId } = await eventWithPeople(1);
    const a = await connect(people[0]!);
    for (const [i, body] of [
      '한강 러닝 좋아요',
      'bring water',
      '러닝화 챙기세요',
      '100%_literal',
    ].entries()) {
      await send(a, conversationId, `s-${i}`, body);
    }
    const search = async (q: string) =>
      (
        (
          await t.app.inject({
            url: `/v1/conversations/${conversationId}/search?q=${encodeURIComponent(q)}`,
            headers: host.headers,
          })
        ).json() as Json
      ).items.map((m: Json) => m.body);
    expect(await search('러닝')).toEqual(['러닝화 챙기세요', '한강 러닝 좋아요']);
    expect(await search('%_')).toEqual(['100%_literal']);
    expect(await search('nothing')).toEqual([]);
  });

  it("moves the search index's pending entries into the index off the send path, one node at a time", async () => {
    const { people, host, conversationId } = await eventWithPeople(1);
    const a = await connect(people[0]!);
    const { repo, searchIndex } = t.app.modules.chat;
    const merges = vi.spyOn(repo, 'sweepSearchIndex');
    try {
      await searchIndex.sweep();
      merges.mockClear();
      // Nothing written since: no query at all.
      expect(await searchIndex.sweep()).toBe(0);
      expect(merges).not.toHaveBeenCalled();

      await send(a, conversationId, 'idx-1', '주말 등산 코스 추천');
      const pages = await searchIndex.sweep();
      expect(merges).toHaveBeenCalledTimes(1);
      // The pending list held this send's entries. On PostgreSQL an autoanalyze may have merged them first.
      expect(pages).toBeGreaterThanOrEqual(servicesMode ? 0 : 1);
      const found = await t.app.inject({
        url: `/v1/conversations/${conversationId}/search?q=${encodeURIComponent('등산 코스')}`,
        headers: host.headers,
      });
      expect((found.json() as Json).items.map((m: Json) => m.body)).toEqual(['주말 등산 코스 추천']);

      if (servicesMode) {
        // Another node is merging (it holds the sweep's lock): this one skips instead of waiting, and tries again.
        const other = new pg.Client({ connectionString: t.databaseUrl });
        await other.connect();
        try {
          await other.query('begin');
          await other.query('select pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.chatSearchIndexSweep]);
          await send(a, conversationId, 'idx-2', '산 정상에서 만나요');
          merges.mockClear();
          expect(await searchIndex.sweep()).toBe(0);
          expect(await merges.mock.results[0]!.value).toBeNull();
          await other.query('commit');
          await searchIndex.sweep();
          expect(merges).toHaveBeenCalledTimes(2);
          expect(await merges.mock.results[1]!.value).not.toBeNull();
        } finally {
          await other.end();
        }
      }
    } finally {
      merges.mockRestore();
    }
  });

  it('with history since joining, a newcomer sees only what was said after they joined', async () => {
    const { event, host, conversationId } = await eventWithPeople(1, { capacity: 5 });
    const visibility = await t.app.inject({
      method: 'PATCH',
      url: `/v1/conversations/${conversationId}`,
      headers: host.headers,
      payload: { historyVisibility: 'since_join' },
    });
    expect((visibility.json() as Json).historyVisibility).toBe('since_join');
    const h = await connect(host);
    await send(h, conversationId, 'old-1', 'before you came');
    const late = await signUpWithEmail(t);
    await join(t, event.id, late);
    await settle();
    await send(h, conversationId, 'new-1', 'welcome');
    const page = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/messages`, headers: late.headers })
    ).json() as Json;
    expect(page.items.map((m: Json) => m.body ?? m.system.type)).toEqual(['joined', 'welcome']);
  });

  it('a removed participant is out of the conversation by the answer: no more messages reach their socket', async () => {
    const { event, people, host, conversationId } = await eventWithPeople(2);
    const [a, h] = await Promise.all([connect(people[0]!), connect(host)]);
    // Heard by the host before the kick, so that the next message the host hears is the removal notice.
    const heard = nextEvent<Json>(h, 'chat:message');
    expect(await send(a, conversationId, 'before-kick', 'still here')).toMatchObject({ ok: true });
    expect(await heard).toMatchObject({ clientId: 'before-kick' });
    const atA = record(a, 'chat:message');
    const announced = nextEvent<Json>(h, 'chat:message');
    // Held: the membership ends in the kick's own transaction, not when the relay runs.
    await t.infra.outbox.stop();
    try {
      const kick = await t.app.inject({
        method: 'DELETE',
        url: `/v1/events/${event.id}/participants/${people[0]!.userId}`,
        headers: host.headers,
      });
      expect(kick.statusCode).toBe(204);
      expect((await conversationOf(event.id, people[0]!)).statusCode).toBe(404);
      await send(h, conversationId, 'after-kick', 'you should not see this');
      await new Promise((r) => setTimeout(r, 300));
      expect(atA).toEqual([]);
      expect(await announced).toMatchObject({
        kind: 'system',
        system: { type: 'removed', userId: people[0]!.userId },
      });
      // Membership is checked before the retry lookup: someone removed learns nothing, not even of their own message.
      expect(await send(a, conversationId, 'before-kick', 'still here')).toMatchObject({
        ok: false,
        error: { code: 'NOT_FOUND' },
      });
    } finally {
      t.infra.outbox.start();
    }
  });

  it('a cancelled event keeps its conversation readable and closed', async () => {
    const { event, people, host, conversationId } = await eventWithPeople(1);
    const a = await connect(people[0]!);
    const early = await send(a, conversationId, 'early', 'see you there');
    expect(early).toMatchObject({ ok: true, data: { duplicate: false } });
    await t.app.inject({ method: 'DELETE', url: `/v1/events/${event.id}`, headers: host.headers });
    await settle();
    expect(await send(a, conversationId, 'late', 'anyone?')).toMatchObject({
      ok: false,
      error: { code: 'CONVERSATION_ARCHIVED' },
    });
    // A retry of a message stored before the cancellation still answers with that message.
    expect(await send(a, conversationId, 'early', 'see you there')).toMatchObject({
      ok: true,
      data: { duplicate: true, message: { id: (early as Json).data.message.id } },
    });
    expect(((await conversationOf(event.id, people[0]!)).json() as Json).archived).toBe(true);
  });

  it('direct conversations: between two people, found again, closed to others', async () => {
    const [a, b, c] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
    const open = (who: SignedUp, userId: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/conversations/direct',
        headers: who.headers,
        payload: { userId },
      });
    const first = (await open(a, b.userId)).json() as Json;
    expect(first).toMatchObject({ kind: 'direct' });
    expect(((await open(b, a.userId)).json() as Json).id).toBe(first.id);
    expect((await open(a, a.userId)).statusCode).toBe(400);
    expect((await open(a, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    const sent = await t.app.inject({
      method: 'POST',
      url: `/v1/conversations/${first.id}/messages`,
      headers: a.headers,
      payload: { clientId: 'dm-1', body: 'hi b' },
    });
    expect(sent.statusCode).toBe(201);
    expect(
      (await t.app.inject({ url: `/v1/conversations/${first.id}/messages`, headers: c.headers })).statusCode,
    ).toBe(404);
    const bList = (await t.app.inject({ url: '/v1/conversations', headers: b.headers })).json() as Json;
    expect(bList.items.find((x: Json) => x.id === first.id)).toMatchObject({
      unread: 1,
      lastMessage: { body: 'hi b' },
    });
  });

  it('answers malformed chat events with error acks, never crashes, never broadcasts', async () => {
    const { people, conversationId } = await eventWithPeople(2);
    const [a, b] = await Promise.all([connect(people[0]!), connect(people[1]!)]);
    const atB = record(b, 'chat:message');
    const bad: [string, unknown][] = [
      ['chat:send', {}],
      ['chat:send', { conversationId, clientId: 'x', body: '' }],
      ['chat:send', { conversationId, clientId: 'bad id with spaces', body: 'x' }],
      ['chat:send', { conversationId, clientId: 'x', body: 'x'.repeat(4001) }],
      ['chat:send', { conversationId: 'not-a-uuid', clientId: 'x', body: 'x' }],
      ['chat:send', { conversationId, clientId: 'x', body: 'x', senderId: people[1]!.userId }],
      ['chat:send', [conversationId, 'x', 'hi']],
      ['chat:send', null],
      ['chat:sync', { conversationId, afterSeq: -1 }],
      ['chat:sync', { conversationId, afterSeq: 'zero' }],
      ['chat:read', { conversationId, seq: 1.5 }],
      ['chat:history', { conversationId, limit: 1000 }],
      ['chat:typing', { conversationId: 42 }],
    ];
    for (const [event, payload] of bad) {
      const res = await emitAck(a, event, payload);
      expect(res.ok, `${event} ${JSON.stringify(payload)}`).toBe(false);
    }
    const blank = await send(a, conversationId, 'blank', '   ');
    expect(blank).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect((await emitAck(a, 'system:ping', {})).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(atB).toEqual([]);
  });

  // Last in the file: the subscriber it adds stays for the tests after it.
  it('records chat.message_sent for each message: delivered at once while nobody subscribes, relayed to a subscriber', async () => {
    const { people, conversationId } = await eventWithPeople(1);
    const a = await connect(people[0]!);
    const sentEvents = async (messageId: string) =>
      (
        await t.infra.database.db
          .select()
          .from(outboxEvents)
          .where(eq(outboxEvents.topic, 'chat.message_sent'))
      ).filter((e) => (e.payload as { messageId: string }).messageId === messageId);

    const first = (await send(a, conversationId, 'evt-1', 'one')) as Json;
    const [unheard] = await sentEvents(first.data.message.id);
    expect(unheard).toMatchObject({
      payload: {
        conversationId,
        messageId: first.data.message.id,
        seq: first.data.message.seq,
        senderId: people[0]!.userId,
      },
      actorId: people[0]!.userId,
      attempts: 0,
    });
    expect(unheard!.dispatchedAt).toBeInstanceOf(Date);

    const heard: DomainEvent<'chat.message_sent'>[] = [];
    t.infra.outbox.subscribe('test.chat-sent', ['chat.message_sent'], async (e) => {
      heard.push(e);
    });
    const second = (await send(a, conversationId, 'evt-2', 'two')) as Json;
    // A retry writes no second event.
    expect(await send(a, conversationId, 'evt-2', 'two')).toMatchObject({
      ok: true,
      data: { duplicate: true },
    });
    await settle();
    expect(heard.map((e) => [e.payload, e.actorId])).toEqual([
      [
        {
          conversationId,
          messageId: second.data.message.id,
          seq: second.data.message.seq,
          senderId: people[0]!.userId,
        },
        people[0]!.userId,
      ],
    ]);
    // Delivered by the relay (one attempt), not written as delivered.
    expect(await sentEvents(second.data.message.id)).toMatchObject([{ attempts: 1, lastError: null }]);
  });
});
