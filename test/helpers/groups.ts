import type { TestApp } from './app.js';
import { signUpWithEmail, type SignedUp } from './accounts.js';
import type { Json } from './http.js';

export interface CreatedGroup {
  id: string;
  owner: SignedUp;
  body: Json;
}

/** Creates a group through the API, signing up an owner unless one is given. */
export async function createGroup(
  t: TestApp,
  overrides: Record<string, unknown> = {},
  owner?: SignedUp,
): Promise<CreatedGroup> {
  const who = owner ?? (await signUpWithEmail(t));
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/groups',
    headers: who.headers,
    payload: { name: 'Han River Runners', kind: 'crew', ...overrides },
  });
  if (res.statusCode !== 201) throw new Error(`create group failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as Json;
  return { id: body.id as string, owner: who, body };
}

export function joinGroup(t: TestApp, groupId: string, who: SignedUp, payload: Record<string, unknown> = {}) {
  return t.app.inject({ method: 'POST', url: `/v1/groups/${groupId}/join`, headers: who.headers, payload });
}

/** Signs up `n` people and has each join the (open) group. */
export async function withMembers(t: TestApp, groupId: string, n: number): Promise<SignedUp[]> {
  const people: SignedUp[] = [];
  for (let i = 0; i < n; i++) {
    const p = await signUpWithEmail(t);
    const res = await joinGroup(t, groupId, p);
    if (res.statusCode !== 200) throw new Error(`join failed: ${res.statusCode} ${res.body}`);
    people.push(p);
  }
  return people;
}

/** Invites a person by user id as `by` and returns the invitation id. */
export async function inviteUser(t: TestApp, groupId: string, by: SignedUp, userId: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/v1/groups/${groupId}/invitations`,
    headers: by.headers,
    payload: { userId },
  });
  if (res.statusCode !== 201) throw new Error(`invite failed: ${res.statusCode} ${res.body}`);
  return (res.json() as Json).id as string;
}

/** Topics written to the outbox about a group, in order. */
export async function groupTopics(t: TestApp, groupId: string): Promise<string[]> {
  const { sql } = await import('drizzle-orm');
  const { queryRows } = await import('../../src/infra/db/database.js');
  const rows = await queryRows<{ topic: string }>(
    t.infra.database.db,
    sql`select topic from outbox_events where payload->>'groupId' = ${groupId} order by id`,
  );
  return rows.map((r) => r.topic);
}

/** Invites each person (as the group's owner) and has them accept: the way into a private or invite-only group. */
export async function addInvited(t: TestApp, group: CreatedGroup, people: SignedUp[]): Promise<void> {
  for (const p of people) {
    const invitationId = await inviteUser(t, group.id, group.owner, p.userId);
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/group-invitations/${invitationId}/accept`,
      headers: p.headers,
      payload: {},
    });
    if (res.statusCode !== 200) throw new Error(`accept failed: ${res.statusCode} ${res.body}`);
  }
}
