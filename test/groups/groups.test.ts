import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createGroup, groupTopics, inviteUser, joinGroup, withMembers } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

describe('groups: creating, joining, requests, roles, kicks, bans, ownership, deletion', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (groupId: string, who?: SignedUp) =>
    t.app.inject({ url: `/v1/groups/${groupId}`, ...(who ? { headers: who.headers } : {}) });
  const members = async (groupId: string, who: SignedUp) =>
    (
      (
        await t.app.inject({ url: `/v1/groups/${groupId}/members?limit=100`, headers: who.headers })
      ).json() as Json
    ).items as Json[];
  const call = (method: 'POST' | 'PATCH' | 'DELETE', url: string, who: SignedUp, payload?: unknown) =>
    t.app.inject({ method, url: `/v1${url}`, headers: who.headers, ...(payload ? { payload } : {}) });

  it('creates a group with its owner as the first member, display name included, and announces it', async () => {
    const owner = await signUpWithEmail(t);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/groups',
      headers: owner.headers,
      payload: {
        name: '  Kim family ',
        kind: 'family',
        tags: ['Family', 'family', ' home '],
        lat: 37.5665,
        lng: 126.978,
        visibility: 'private',
        joinPolicy: 'invite_only',
        displayName: 'Dad',
      },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json() as Json;
    expect(body).toMatchObject({
      view: 'full',
      name: 'Kim family',
      kind: 'family',
      tags: ['family', 'home'],
      region: 'seoul',
      visibility: 'private',
      joinPolicy: 'invite_only',
      memberCount: 1,
      memberCap: null,
      owner: { id: owner.userId },
      viewer: { role: 'owner', displayName: 'Dad', requested: false, banned: false },
    });
    const list = await members(body.id, owner);
    expect(list).toEqual([
      expect.objectContaining({
        user: expect.objectContaining({ id: owner.userId }),
        role: 'owner',
        displayName: 'Dad',
      }),
    ]);
    expect(await groupTopics(t, body.id)).toEqual(['group.created']);
    const mine = (await t.app.inject({ url: '/v1/me/groups', headers: owner.headers })).json() as Json;
    expect(mine.items.map((g: Json) => [g.group.id, g.role])).toContainEqual([body.id, 'owner']);
  });

  it('refuses bad input with 400 and a code, never 500', async () => {
    const owner = await signUpWithEmail(t);
    for (const payload of [
      {},
      { name: 'x' },
      { name: 'ok name', kind: 'cult' },
      { name: 'ok name', memberCap: 1 },
      { name: 'ok name', lat: 37.5 },
      { name: 'ok name', joinPolicy: 'whatever' },
    ]) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/groups', headers: owner.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect((res.json() as Json).code).toBe('VALIDATION_FAILED');
    }
    expect((await t.app.inject({ url: '/v1/groups/not-a-uuid' })).statusCode).toBe(400);
    expect((await t.app.inject({ url: '/v1/groups?cursor=garbage' })).statusCode).toBe(400);
  });

  it('open groups take people at once; leaving, and the owner must hand over first', async () => {
    const group = await createGroup(t);
    const [a] = await withMembers(t, group.id, 1);
    expect(((await get(group.id, a)).json() as Json).memberCount).toBe(2);
    expect((await joinGroup(t, group.id, a!)).json()).toMatchObject({ code: 'ALREADY_MEMBER' });
    expect((await call('POST', `/groups/${group.id}/leave`, a!)).statusCode).toBe(204);
    expect(((await get(group.id, a)).json() as Json).memberCount).toBe(1);
    expect((await call('POST', `/groups/${group.id}/leave`, a!)).json()).toMatchObject({
      code: 'NOT_A_MEMBER',
    });
    const ownerLeaves = await call('POST', `/groups/${group.id}/leave`, group.owner);
    expect(ownerLeaves.statusCode).toBe(409);
    expect((ownerLeaves.json() as Json).code).toBe('OWNER_MUST_TRANSFER');
    expect(await groupTopics(t, group.id)).toEqual([
      'group.created',
      'group.member_joined',
      'group.member_left',
    ]);
  });

  it('the member cap holds: 30 simultaneous joins to a 10-member group give exactly 10 members', async () => {
    const group = await createGroup(t, { memberCap: 10 });
    const people = await Promise.all(Array.from({ length: 30 }, () => signUpWithEmail(t)));
    const results = await Promise.all(people.map((p) => joinGroup(t, group.id, p)));
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(9); // the owner holds the 10th place
    expect(results.filter((r) => r.statusCode === 409).map((r) => (r.json() as Json).code)).toEqual(
      Array(21).fill('GROUP_FULL'),
    );
    const detail = (await get(group.id, group.owner)).json() as Json;
    expect(detail.memberCount).toBe(10);
    expect(await members(group.id, group.owner)).toHaveLength(10);
    // Refused joins rolled back and left nothing in the outbox.
    const topics = await groupTopics(t, group.id);
    expect(topics.filter((x) => x === 'group.member_joined')).toHaveLength(9);
  });

  it('the same person joining many times at once becomes one member', async () => {
    const group = await createGroup(t);
    const p = await signUpWithEmail(t);
    const results = await Promise.all(Array.from({ length: 8 }, () => joinGroup(t, group.id, p)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(((await get(group.id, p)).json() as Json).memberCount).toBe(2);
  });

  it('approval groups: a request, which admins accept within the cap or decline; the requester may withdraw', async () => {
    const group = await createGroup(t, { joinPolicy: 'approval', memberCap: 2 });
    const [a, b, c] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
    const asked = await joinGroup(t, group.id, a, { message: 'I run 10K in 55 minutes' });
    expect(asked.json()).toEqual({ groupId: group.id, status: 'requested', role: null, displayName: null });
    expect((await joinGroup(t, group.id, a)).json()).toMatchObject({ code: 'JOIN_REQUEST_PENDING' });
    expect(((await get(group.id, a)).json() as Json).viewer).toMatchObject({ role: null, requested: true });
    await joinGroup(t, group.id, b);
    await joinGroup(t, group.id, c);
    expect((await call('DELETE', `/groups/${group.id}/join-request`, c)).statusCode).toBe(204);

    // A member who is not an admin cannot see or decide requests.
    const list = (
      await t.app.inject({ url: `/v1/groups/${group.id}/join-requests`, headers: group.owner.headers })
    ).json() as Json;
    expect(list.items.map((r: Json) => [r.user.id, r.message])).toEqual([
      [a.userId, 'I run 10K in 55 minutes'],
      [b.userId, null],
    ]);
    expect(
      (await call('POST', `/groups/${group.id}/join-requests/${a.userId}/approve`, group.owner)).statusCode,
    ).toBe(204);
    expect((await call('POST', `/groups/${group.id}/join-requests/${a.userId}/approve`, a)).statusCode).toBe(
      403,
    );
    const full = await call('POST', `/groups/${group.id}/join-requests/${b.userId}/approve`, group.owner);
    expect((full.json() as Json).code).toBe('GROUP_FULL');
    expect(
      (await call('POST', `/groups/${group.id}/join-requests/${b.userId}/reject`, group.owner)).statusCode,
    ).toBe(204);
    expect(
      (await call('POST', `/groups/${group.id}/join-requests/${c.userId}/approve`, group.owner)).json(),
    ).toMatchObject({ code: 'JOIN_REQUEST_NOT_PENDING' });
    expect(((await get(group.id, a)).json() as Json).viewer.role).toBe('member');
    const topics = await groupTopics(t, group.id);
    expect(topics.filter((x) => x.startsWith('group.join'))).toEqual([
      'group.join_requested',
      'group.join_requested',
      'group.join_requested',
      'group.join_request_cancelled',
      'group.join_decided',
      'group.join_decided',
    ]);
  });

  it('invite-only groups refuse joining without an invitation', async () => {
    const group = await createGroup(t, { joinPolicy: 'invite_only' });
    const p = await signUpWithEmail(t);
    const res = await joinGroup(t, group.id, p);
    expect(res.statusCode).toBe(403);
    expect((res.json() as Json).code).toBe('INVITATION_REQUIRED');
  });

  it('roles: the owner promotes and demotes admins; admins run the group but not the owner', async () => {
    const group = await createGroup(t);
    const [a, b, c] = await withMembers(t, group.id, 3);
    const promote = (who: SignedUp, userId: string, role: string) =>
      call('PATCH', `/groups/${group.id}/members/${userId}`, who, { role });
    expect((await promote(a!, b!.userId, 'admin')).statusCode).toBe(403);
    expect((await promote(group.owner, a!.userId, 'admin')).json()).toMatchObject({ role: 'admin' });
    // An admin cannot promote, cannot kick the owner or another admin, can kick a member.
    expect((await promote(a!, b!.userId, 'admin')).statusCode).toBe(403);
    expect((await promote(group.owner, group.owner.userId, 'member')).statusCode).toBe(403);
    expect((await call('DELETE', `/groups/${group.id}/members/${group.owner.userId}`, a!)).statusCode).toBe(
      403,
    );
    await promote(group.owner, b!.userId, 'admin');
    expect((await call('DELETE', `/groups/${group.id}/members/${b!.userId}`, a!)).statusCode).toBe(403);
    expect((await call('DELETE', `/groups/${group.id}/members/${c!.userId}`, a!)).statusCode).toBe(204);
    expect((await promote(group.owner, b!.userId, 'member')).json()).toMatchObject({ role: 'member' });
    // Admins edit the group; members do not.
    expect((await call('PATCH', `/groups/${group.id}`, b!, { name: 'Mine now' })).statusCode).toBe(403);
    expect(
      (await call('PATCH', `/groups/${group.id}`, a!, { description: 'Wednesdays' })).json(),
    ).toMatchObject({
      description: 'Wednesdays',
    });
    const topics = await groupTopics(t, group.id);
    expect(topics).toContain('group.role_changed');
    expect(topics).toContain('group.member_removed');
    expect(topics).toContain('group.updated');
  });

  it('the cap cannot drop below the members there are', async () => {
    const group = await createGroup(t);
    await withMembers(t, group.id, 3);
    const res = await call('PATCH', `/groups/${group.id}`, group.owner, { memberCap: 3 });
    expect(res.statusCode).toBe(409);
    expect((res.json() as Json).code).toBe('MEMBER_CAP_BELOW_MEMBERS');
    expect((await call('PATCH', `/groups/${group.id}`, group.owner, { memberCap: 4 })).statusCode).toBe(200);
    expect((await joinGroup(t, group.id, await signUpWithEmail(t))).json()).toMatchObject({
      code: 'GROUP_FULL',
    });
  });

  it('display names: one’s own, or set by admins for members; unique within the group', async () => {
    const group = await createGroup(t, { kind: 'family', displayName: 'Dad' });
    const [mom, kid] = await withMembers(t, group.id, 2);
    const rename = (who: SignedUp, userId: string, displayName: string | null) =>
      call('PATCH', `/groups/${group.id}/members/${userId}`, who, { displayName });
    expect((await rename(mom!, mom!.userId, 'Mom')).json()).toMatchObject({ displayName: 'Mom' });
    const taken = await rename(kid!, kid!.userId, 'mom');
    expect(taken.statusCode).toBe(409);
    expect((taken.json() as Json).code).toBe('DISPLAY_NAME_TAKEN');
    expect((await rename(kid!, mom!.userId, 'Not mom')).statusCode).toBe(403);
    expect((await rename(group.owner, kid!.userId, 'Son')).json()).toMatchObject({ displayName: 'Son' });
    const names = (await members(group.id, kid!)).map((m) => m.displayName);
    expect(names).toEqual(['Dad', 'Mom', 'Son']);
    expect(
      (await joinGroup(t, group.id, await signUpWithEmail(t), { displayName: 'DAD' })).json(),
    ).toMatchObject({
      code: 'DISPLAY_NAME_TAKEN',
    });
  });

  it('kicked people may come back; banned people cannot join, be invited or use a link until unbanned', async () => {
    const group = await createGroup(t);
    const [kicked, banned] = await withMembers(t, group.id, 2);
    expect(
      (await call('DELETE', `/groups/${group.id}/members/${kicked!.userId}`, group.owner)).statusCode,
    ).toBe(204);
    expect((await joinGroup(t, group.id, kicked!)).statusCode).toBe(200);

    expect(
      (await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: banned!.userId })).statusCode,
    ).toBe(204);
    expect(
      (await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: banned!.userId })).json(),
    ).toMatchObject({ code: 'ALREADY_BANNED' });
    expect(((await get(group.id, group.owner)).json() as Json).memberCount).toBe(2);
    const again = await joinGroup(t, group.id, banned!);
    expect(again.statusCode).toBe(403);
    expect((again.json() as Json).code).toBe('BANNED_FROM_GROUP');
    const invited = await call('POST', `/groups/${group.id}/invitations`, group.owner, {
      userId: banned!.userId,
    });
    expect((invited.json() as Json).code).toBe('BANNED_FROM_GROUP');
    const link = (
      await call('POST', `/groups/${group.id}/invite-links`, group.owner, { maxUses: 5 })
    ).json() as Json;
    const byLink = await call('POST', '/group-invite-links/join', banned!, { token: link.token });
    expect((byLink.json() as Json).code).toBe('BANNED_FROM_GROUP');

    // Someone who never joined can be banned too, which withdraws their invitation.
    const outsider = await signUpWithEmail(t);
    await inviteUser(t, group.id, group.owner, outsider.userId);
    await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: outsider.userId, reason: 'spam' });
    const mine = (
      await t.app.inject({ url: '/v1/me/group-invitations', headers: outsider.headers })
    ).json() as Json;
    expect(mine.items).toEqual([]);
    const bans = (
      await t.app.inject({ url: `/v1/groups/${group.id}/bans`, headers: group.owner.headers })
    ).json() as Json;
    expect(bans.items.map((b: Json) => [b.user.id, b.reason])).toEqual(
      expect.arrayContaining([
        [banned!.userId, null],
        [outsider.userId, 'spam'],
      ]),
    );

    expect((await call('DELETE', `/groups/${group.id}/bans/${banned!.userId}`, group.owner)).statusCode).toBe(
      204,
    );
    expect(
      (await call('DELETE', `/groups/${group.id}/bans/${banned!.userId}`, group.owner)).json(),
    ).toMatchObject({
      code: 'NOT_BANNED',
    });
    expect((await joinGroup(t, group.id, banned!)).statusCode).toBe(200);
    const topics = await groupTopics(t, group.id);
    expect(topics).toEqual(
      expect.arrayContaining(['group.banned', 'group.unbanned', 'group.member_removed']),
    );
  });

  it('an admin cannot ban the owner or another admin, and nobody bans themselves', async () => {
    const group = await createGroup(t);
    const [a, b] = await withMembers(t, group.id, 2);
    await call('PATCH', `/groups/${group.id}/members/${a!.userId}`, group.owner, { role: 'admin' });
    await call('PATCH', `/groups/${group.id}/members/${b!.userId}`, group.owner, { role: 'admin' });
    for (const target of [group.owner.userId, b!.userId, a!.userId]) {
      expect((await call('POST', `/groups/${group.id}/bans`, a!, { userId: target })).statusCode).toBe(403);
    }
  });

  it('transfers ownership to a member; the old owner stays as admin and may then leave', async () => {
    const group = await createGroup(t);
    const [a] = await withMembers(t, group.id, 1);
    const outsider = await signUpWithEmail(t);
    expect((await call('POST', `/groups/${group.id}/transfer`, a!, { userId: a!.userId })).statusCode).toBe(
      403,
    );
    expect(
      (await call('POST', `/groups/${group.id}/transfer`, group.owner, { userId: outsider.userId }))
        .statusCode,
    ).toBe(404);
    const res = await call('POST', `/groups/${group.id}/transfer`, group.owner, { userId: a!.userId });
    expect(res.json()).toMatchObject({ owner: { id: a!.userId }, viewer: { role: 'admin' } });
    const roles = Object.fromEntries((await members(group.id, a!)).map((m) => [m.user.id, m.role]));
    expect(roles).toEqual({ [group.owner.userId]: 'admin', [a!.userId]: 'owner' });
    expect((await call('POST', `/groups/${group.id}/leave`, group.owner)).statusCode).toBe(204);
    expect(await groupTopics(t, group.id)).toContain('group.ownership_transferred');
  });

  it('deleting: the owner only; then the group is gone for everyone, soft-deleted, announced', async () => {
    const group = await createGroup(t);
    const [a] = await withMembers(t, group.id, 1);
    expect((await call('DELETE', `/groups/${group.id}`, a!)).statusCode).toBe(403);
    expect((await call('DELETE', `/groups/${group.id}`, group.owner)).statusCode).toBe(204);
    for (const who of [group.owner, a!]) expect((await get(group.id, who)).statusCode).toBe(404);
    expect((await get(group.id)).statusCode).toBe(404);
    expect((await joinGroup(t, group.id, await signUpWithEmail(t))).statusCode).toBe(404);
    const mine = (await t.app.inject({ url: '/v1/me/groups', headers: a!.headers })).json() as Json;
    expect(mine.items.map((g: Json) => g.group.id)).not.toContain(group.id);
    const { sql } = await import('drizzle-orm');
    const { queryRows } = await import('../../src/infra/db/database.js');
    const [row] = await queryRows<{ deleted_at: string | null }>(
      t.infra.database.db,
      sql`select deleted_at from groups where id = ${group.id}`,
    );
    expect(row?.deleted_at).not.toBeNull();
    expect((await groupTopics(t, group.id)).at(-1)).toBe('group.deleted');
  });

  it('private groups answer 404 to outsiders, their members list too; public groups are listed, private never', async () => {
    const priv = await createGroup(t, { visibility: 'private', name: 'Secret family zzq' });
    const pub = await createGroup(t, { name: 'Open crew zzq', tags: ['zzq'] });
    const stranger = await signUpWithEmail(t);
    expect((await get(priv.id, stranger)).statusCode).toBe(404);
    expect((await get(priv.id)).statusCode).toBe(404);
    expect(
      (await t.app.inject({ url: `/v1/groups/${priv.id}/members`, headers: stranger.headers })).statusCode,
    ).toBe(404);
    expect((await joinGroup(t, priv.id, stranger)).statusCode).toBe(404);
    expect((await t.app.inject({ url: `/v1/groups/${pub.id}/members` })).statusCode).toBe(200);
    const listed = (await t.app.inject({ url: '/v1/groups?q=zzq' })).json() as Json;
    expect(listed.items.map((g: Json) => g.id)).toEqual([pub.id]);
    const byTag = (await t.app.inject({ url: '/v1/groups?tag=zzq&kind=crew' })).json() as Json;
    expect(byTag.items.map((g: Json) => g.id)).toEqual([pub.id]);
  });

  it('pages through members and public groups with keyset cursors', async () => {
    const group = await createGroup(t);
    await withMembers(t, group.id, 4);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (
        await t.app.inject({
          url: `/v1/groups/${group.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          headers: group.owner.headers,
        })
      ).json() as Json;
      seen.push(...page.items.map((m: Json) => m.user.id as string));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect(seen[0]).toBe(group.owner.userId);

    const tag = `page${Date.now()}`;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createGroup(t, { tags: [tag] })).id);
    const listed: string[] = [];
    cursor = null;
    do {
      const page = (
        await t.app.inject({ url: `/v1/groups?tag=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}` })
      ).json() as Json;
      listed.push(...page.items.map((g: Json) => g.id as string));
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual(made.reverse());
  });
});
