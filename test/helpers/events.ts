import type { TestApp } from './app.js';
import { signUpWithEmail, type SignedUp } from './accounts.js';
import type { Json } from './http.js';

/** ISO times `startInMinutes` from the app's clock, lasting `durationMinutes`. */
export function times(t: TestApp, startInMinutes: number, durationMinutes = 120) {
  const start = t.infra.clock.now().getTime() + startInMinutes * 60_000;
  return {
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(start + durationMinutes * 60_000).toISOString(),
  };
}

export interface CreatedEvent {
  id: string;
  host: SignedUp;
  body: Json;
}

/** Creates an event through the API, signing up a host unless one is given. */
export async function createEvent(
  t: TestApp,
  overrides: Record<string, unknown> = {},
  host?: SignedUp,
): Promise<CreatedEvent> {
  const owner = host ?? (await signUpWithEmail(t));
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: owner.headers,
    payload: {
      title: 'Han River evening run',
      ...times(t, 24 * 60),
      placeName: 'Yeouinaru station',
      lat: 37.5283,
      lng: 126.9326,
      ...overrides,
    },
  });
  if (res.statusCode !== 201) throw new Error(`create event failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as Json;
  return { id: body.id as string, host: owner, body };
}

export async function join(t: TestApp, eventId: string, who: SignedUp) {
  return t.app.inject({ method: 'POST', url: `/v1/events/${eventId}/join`, headers: who.headers });
}

export async function getEvent(t: TestApp, eventId: string, who?: SignedUp) {
  return t.app.inject({ url: `/v1/events/${eventId}`, ...(who ? { headers: who.headers } : {}) });
}

/** Topics written to the outbox for an event, in order. */
export async function outboxTopics(t: TestApp, eventId: string): Promise<string[]> {
  const { sql } = await import('drizzle-orm');
  const { queryRows } = await import('../../src/infra/db/database.js');
  const rows = await queryRows<{ topic: string }>(
    t.infra.database.db,
    sql`select topic from outbox_events where payload->>'eventId' = ${eventId} order by id`,
  );
  return rows.map((r) => r.topic);
}

/** Domain events written to the outbox for an event, in order, with their payloads. */
export async function outboxEvents(t: TestApp, eventId: string): Promise<{ topic: string; payload: Json }[]> {
  const { sql } = await import('drizzle-orm');
  const { queryRows } = await import('../../src/infra/db/database.js');
  return queryRows<{ topic: string; payload: Json }>(
    t.infra.database.db,
    sql`select topic, payload from outbox_events where payload->>'eventId' = ${eventId} order by id`,
  );
}
