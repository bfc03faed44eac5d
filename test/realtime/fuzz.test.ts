import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/shared/errors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, emitAck, type TestSocket } from '../helpers/sockets.js';

/**
 * Every client event, fed hundreds of generated payloads (any JSON: wrong types, missing and extra fields,
 * near-miss ids, huge strings): each gets an error acknowledgement with a code from the error table, nothing is
 * broadcast to anyone, and the server keeps answering.
 */
describe('fuzzing every socket event', () => {
  let t: TestApp;
  let attacker: TestSocket;
  let bystander: TestSocket;
  let conversationId: string;
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
    const event = await createEvent(t);
    const other = await signUpWithEmail(t);
    await join(t, event.id, other);
    await t.infra.outbox.drain();
    conversationId = (
      (
        await t.app.inject({ url: `/v1/events/${event.id}/conversation`, headers: other.headers })
      ).json() as Json
    ).id as string;
    // The attacker is signed in but in nothing: a well-formed request about the conversation must be refused too.
    attacker = await connectSocket(t.url, { token: (await signUpWithEmail(t)).accessToken });
    bystander = await connectSocket(t.url, { token: event.host.accessToken });
  });
  afterAll(async () => {
    attacker?.close();
    bystander?.close();
    await t.close();
  });

  it('answers 400 generated payloads per event with error acks; nothing reaches anyone; the server lives', async () => {
    const heard: string[] = [];
    bystander.onAny((event: string) => {
      if (!event.startsWith('presence:')) heard.push(event);
    });
    const events = t.infra.gateway.events;
    expect(events).toEqual(
      expect.arrayContaining(['chat:send', 'chat:sync', 'chat:read', 'chat:typing', 'presence:query']),
    );
    // Payloads near the valid shape (the real conversation id, wrong or missing other fields) and anything at all.
    const nearMiss = fc.record(
      {
        conversationId: fc.oneof(fc.constant(conversationId), fc.uuid(), fc.string()),
        clientId: fc.oneof(fc.string(), fc.integer(), fc.constant('')),
        body: fc.oneof(
          fc.constant(''),
          fc.string({ maxLength: 5 }).map((s) => ` ${s} `),
          fc.integer(),
          fc.constant(null),
        ),
        afterSeq: fc.oneof(fc.integer({ min: -5, max: -1 }), fc.double(), fc.string()),
        seq: fc.oneof(fc.double({ noInteger: true }), fc.string()),
        userIds: fc.oneof(fc.array(fc.string(), { maxLength: 3 }), fc.constant([])),
        token: fc.oneof(fc.integer(), fc.constant('')),
      },
      { requiredKeys: [] },
    );
    const payload = fc.oneof(fc.jsonValue(), nearMiss, fc.anything());
    const codes = new Set(Object.keys(ERROR_STATUS));
    for (const event of events) {
      const samples = fc.sample(payload, 400);
      for (const sample of samples) {
        const res = await emitAck(attacker, event, sample);
        if (res.ok) {
          // Only a ping (all-optional payload) or a presence query (answered with nothing: the attacker shares
          // no group or event with anyone) may succeed.
          expect(['system:ping', 'presence:query'], JSON.stringify(sample)).toContain(event);
          if (event === 'presence:query') expect(res.data).toEqual({ presence: [] });
        } else {
          expect(codes.has(res.error.code), res.error.code).toBe(true);
        }
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(heard).toEqual([]);
    // The server lives: a ping is answered, once the fuzzing's own rate limit (if it tripped) has passed.
    let pong = (await emitAck(attacker, 'system:ping', {})) as Json;
    if (!pong.ok && pong.error.code === 'RATE_LIMITED') {
      await new Promise((r) => setTimeout(r, pong.error.details.retryAfterMs + 50));
      pong = (await emitAck(attacker, 'system:ping', {})) as Json;
    }
    expect(pong, JSON.stringify(pong)).toMatchObject({ ok: true });
    expect(t.logs.entries().filter((e) => e.level === 'error')).toEqual([]);
  }, 300_000);
});
