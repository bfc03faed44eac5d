import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, uniqueEmail, uniquePhone, type SignedUp } from '../helpers/accounts.js';
import { createGroup, groupTopics, inviteUser, joinGroup, withMembers } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

describe('groups: invitations by person, phone and email; invite links', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { GROUP_CONTACT_INVITES_PER_HOUR: '6' } });
  });
  afterAll(async () => {
    await t.close();
  });

  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    who?: SignedUp,
    payload?: unknown,
  ) =>
    t.app.inject({
      method,
      url: `/v1${url}`,
      ...(who ? { headers: who.headers } : {}),
      ...(payload ? { payload } : {}),
    });
  const myInvitations = async (who: SignedUp) =>
    ((await call('GET', '/me/group-invitations', who)).json() as Json).items as Json[];

  /** Gives an account a phone number, as a verified phone sign-up would. */
  async function withPhone(who: SignedUp): Promise<string> {
    const phone = uniquePhone(t);
    const { verification } = t.app.modules.accounts;
    const hash = verification.phoneHash(verification.phone(phone));
    await queryRows(t.infra.database.db, sql`update users set phone_hash = ${hash} where id = ${who.userId}`);
    return phone;
  }

  it('invites a person by id into a private invite-only group: preview, accept, then the whole group', async () => {
    const group = await createGroup(t, {
      visibility: 'private',
      joinPolicy: 'invite_only',
      kind: 'family',
      description: 'Family matters',
      displayName: 'Dad',
    });
    const grandma = await signUpWithEmail(t);
    expect((await call('GET', `/groups/${group.id}`, grandma)).statusCode).toBe(404);
    const invitationId = await inviteUser(t, group.id, group.owner, grandma.userId);

    const preview = (await call('GET', `/groups/${group.id}`, grandma)).json() as Json;
    expect(preview).toMatchObject({
      id: group.id,
      view: 'preview',
      name: 'Han River Runners',
      memberCount: 1,
    });
    expect(preview.viewer).toMatchObject({ role: null, invitationId });
    for (const hidden of ['description', 'owner', 'tags', 'lat', 'lng', 'region'])
      expect(preview).not.toHaveProperty(hidden);
    // Still not a member: the member list stays closed.
    expect((await call('GET', `/groups/${group.id}/members`, grandma)).statusCode).toBe(404);

    const listed = await myInvitations(grandma);
    expect(listed).toEqual([
      expect.objectContaining({
        id: invitationId,
        inviter: expect.objectContaining({ id: group.owner.userId }),
        group: expect.objectContaining({ id: group.id, view: 'preview' }),
      }),
    ]);
    expect(listed[0].group).not.toHaveProperty('description');

    const accepted = await call('POST', `/group-invitations/${invitationId}/accept`, grandma, {
      displayName: 'Grandma',
    });
    expect(accepted.json()).toEqual({
      groupId: group.id,
      status: 'member',
      role: 'member',
      displayName: 'Grandma',
    });
    const full = (await call('GET', `/groups/${group.id}`, grandma)).json() as Json;
    expect(full).toMatchObject({ view: 'full', description: 'Family matters', memberCount: 2 });
    expect((await call('POST', `/group-invitations/${invitationId}/accept`, grandma)).json()).toMatchObject({
      code: 'INVITATION_NOT_PENDING',
    });
    expect(await groupTopics(t, group.id)).toEqual(
      expect.arrayContaining(['group.invited', 'group.member_joined', 'group.invitation_answered']),
    );
  });

  it('refuses duplicate invitations and invitations of members; only admins invite; only the invitee answers', async () => {
    const group = await createGroup(t, { joinPolicy: 'invite_only' });
    const member = await signUpWithEmail(t);
    await call(
      'POST',
      `/group-invitations/${await inviteUser(t, group.id, group.owner, member.userId)}/accept`,
      member,
    );
    const invitee = await signUpWithEmail(t);
    const other = await signUpWithEmail(t);
    const invitationId = await inviteUser(t, group.id, group.owner, invitee.userId);
    const dup = await call('POST', `/groups/${group.id}/invitations`, group.owner, {
      userId: invitee.userId,
    });
    expect(dup.statusCode).toBe(409);
    expect((dup.json() as Json).code).toBe('ALREADY_INVITED');
    expect(
      (
        (
          await call('POST', `/groups/${group.id}/invitations`, group.owner, { userId: member.userId })
        ).json() as Json
      ).code,
    ).toBe('ALREADY_MEMBER');
    expect(
      (await call('POST', `/groups/${group.id}/invitations`, member, { userId: other.userId })).statusCode,
    ).toBe(403);
    expect(
      (await call('POST', `/groups/${group.id}/invitations`, group.owner, { userId: crypto.randomUUID() }))
        .statusCode,
    ).toBe(404);
    // Somebody else cannot answer it, whatever id they name.
    expect((await call('POST', `/group-invitations/${invitationId}/accept`, other)).statusCode).toBe(404);
    expect((await call('POST', `/group-invitations/${invitationId}/reject`, invitee)).statusCode).toBe(204);
    expect((await call('POST', `/group-invitations/${invitationId}/accept`, invitee)).json()).toMatchObject({
      code: 'INVITATION_NOT_PENDING',
    });
    // Declined, they may be invited again; a withdrawn invitation cannot be accepted.
    const second = await inviteUser(t, group.id, group.owner, invitee.userId);
    const [again] = ((await call('GET', `/groups/${group.id}/invitations`, group.owner)).json() as Json)
      .items;
    expect(again).toMatchObject({
      id: second,
      invitee: { id: invitee.userId },
      inviter: { id: group.owner.userId },
    });
    const admins = ((await call('GET', `/groups/${group.id}/invitations`, group.owner)).json() as Json).items;
    expect(admins.map((i: Json) => [i.id, i.via, i.invitee?.id])).toEqual([[second, 'user', invitee.userId]]);
    expect((await call('GET', `/groups/${group.id}/invitations`, member)).statusCode).toBe(403);
    expect((await call('DELETE', `/groups/${group.id}/invitations/${second}`, group.owner)).statusCode).toBe(
      204,
    );
    expect((await call('POST', `/group-invitations/${second}/accept`, invitee)).json()).toMatchObject({
      code: 'INVITATION_NOT_PENDING',
    });
    expect(await myInvitations(invitee)).toEqual([]);
  });

  it('accepting respects the cap; invitations expire after 14 days', async () => {
    const group = await createGroup(t, { memberCap: 2, joinPolicy: 'invite_only' });
    const [a, b] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t)]);
    const ia = await inviteUser(t, group.id, group.owner, a.userId);
    const ib = await inviteUser(t, group.id, group.owner, b.userId);
    expect((await call('POST', `/group-invitations/${ia}/accept`, a)).statusCode).toBe(200);
    const full = await call('POST', `/group-invitations/${ib}/accept`, b);
    expect(full.statusCode).toBe(409);
    expect((full.json() as Json).code).toBe('GROUP_FULL');

    const late = await createGroup(t, { joinPolicy: 'invite_only' });
    const c = await signUpWithEmail(t);
    const ic = await inviteUser(t, late.id, late.owner, c.userId);
    // Fourteen days on (moved in the database: the tokens would not survive moving the clock).
    await queryRows(
      t.infra.database.db,
      sql`update group_invitations set expires_at = now() - interval '1 minute' where id = ${ic}`,
    );
    expect(await myInvitations(c)).toEqual([]);
    expect((await call('POST', `/group-invitations/${ic}/accept`, c)).json()).toMatchObject({
      code: 'INVITATION_NOT_PENDING',
    });
    // An expired invitation does not block a new one.
    await inviteUser(t, late.id, late.owner, c.userId);
  });

  it('by phone or email: the same answer whether or not someone holds the contact, and no duplicates', async () => {
    const group = await createGroup(t, { visibility: 'private', joinPolicy: 'invite_only' });
    const holder = await signUpWithEmail(t);
    const phoneHolder = await signUpWithEmail(t);
    const phone = await withPhone(phoneHolder);
    const nobodyEmail = uniqueEmail();
    const nobodyPhone = uniquePhone(t);

    const invite = (payload: Json) => call('POST', `/groups/${group.id}/invitations`, group.owner, payload);
    const answers = [
      await invite({ email: holder.email.toUpperCase() }),
      await invite({ email: nobodyEmail }),
      await invite({ phone }),
      await invite({ phone: nobodyPhone }),
    ];
    const shapes = answers.map((r) => {
      const body = r.json() as Json;
      return { status: r.statusCode, keys: Object.keys(body).sort(), invitee: body.invitee, st: body.status };
    });
    expect(new Set(shapes.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(shapes[0]).toMatchObject({ status: 202, invitee: null, st: 'pending' });
    const bodies = answers.map((r) => r.json() as Json);
    expect(bodies[0].contactHint).toMatch(/^\w{1,2}\*\*\*@example\.com$/);
    expect(bodies[2].contactHint).toBe(`+82-10-****-${phone.slice(-4)}`);
    for (const r of answers) expect(r.body).not.toContain(phone.slice(3));

    // The same contact again: the same invitation, no second one, the same answer.
    const again = await invite({ email: holder.email });
    expect(again.statusCode).toBe(202);
    expect((again.json() as Json).id).toBe(bodies[0].id);

    // The admins' list shows the masked contacts, never who holds them.
    const list = ((await call('GET', `/groups/${group.id}/invitations`, group.owner)).json() as Json).items;
    expect(list).toHaveLength(4);
    expect(list.every((i: Json) => i.invitee === null)).toBe(true);
    expect(JSON.stringify(list)).not.toContain(holder.userId);
    expect(JSON.stringify(list)).not.toContain(phoneHolder.userId);

    // The holders find their invitations and can accept them; nobody else got anything.
    const [forHolder] = await myInvitations(holder);
    expect(forHolder).toMatchObject({ id: bodies[0].id, group: { id: group.id } });
    expect((await myInvitations(phoneHolder))[0]).toMatchObject({ id: bodies[2].id });
    expect((await call('POST', `/group-invitations/${forHolder.id}/accept`, holder)).statusCode).toBe(200);
    expect((await call('GET', `/groups/${group.id}`, holder)).statusCode).toBe(200);

    // Inviting a member by their email says nothing either (and invites nobody).
    const g2 = await createGroup(t);
    const [m] = await withMembers(t, g2.id, 1);
    const toMember = await call('POST', `/groups/${g2.id}/invitations`, g2.owner, { email: m!.email });
    expect(toMember.statusCode).toBe(202);
    expect((toMember.json() as Json).invitee).toBeNull();
    expect(await myInvitations(m!)).toEqual([]);

    // A malformed number is a plain 400, the same for everyone.
    const bad = await invite({ phone: '999-1234-5' });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as Json).code).toBe('PHONE_INVALID');
  });

  it('rate-limits contact invitations per inviter', async () => {
    const group = await createGroup(t);
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await call('POST', `/groups/${group.id}/invitations`, group.owner, {
        email: uniqueEmail(),
      });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([202, 202, 202, 202, 202, 202, 429, 429]);
  });

  it('invite links: a secret shown once, preview, join past the policy and privacy, use limit, expiry, revocation', async () => {
    const group = await createGroup(t, {
      visibility: 'private',
      joinPolicy: 'invite_only',
      description: 'secret',
    });
    const member = await signUpWithEmail(t);
    const notAdmin = await call('POST', `/groups/${group.id}/invite-links`, member);
    expect(notAdmin.statusCode).toBe(404); // an outsider of a private group sees nothing at all
    const created = await call('POST', `/groups/${group.id}/invite-links`, group.owner, { maxUses: 2 });
    expect(created.statusCode).toBe(201);
    const link = created.json() as Json;
    expect(link.token).toMatch(/^[\w-]{32}$/);

    const preview = await call('POST', '/group-invite-links/preview', undefined, { token: link.token });
    expect(preview.json()).toMatchObject({ id: group.id, view: 'preview', viewer: null });
    expect(preview.json()).not.toHaveProperty('description');

    const joined = await call('POST', '/group-invite-links/join', member, {
      token: link.token,
      displayName: 'Uncle',
    });
    expect(joined.json()).toEqual({
      groupId: group.id,
      status: 'member',
      role: 'member',
      displayName: 'Uncle',
    });
    expect(
      (await call('POST', '/group-invite-links/join', member, { token: link.token })).json(),
    ).toMatchObject({
      code: 'ALREADY_MEMBER',
    });
    // A member who is not an admin cannot make or list links.
    expect((await call('POST', `/groups/${group.id}/invite-links`, member)).statusCode).toBe(403);
    const links = ((await call('GET', `/groups/${group.id}/invite-links`, group.owner)).json() as Json).items;
    expect(links).toEqual([expect.objectContaining({ id: link.id, uses: 1, maxUses: 2 })]);
    expect(links[0]).not.toHaveProperty('token');

    await call('POST', '/group-invite-links/join', await signUpWithEmail(t), { token: link.token });
    const usedUp = await call('POST', '/group-invite-links/join', await signUpWithEmail(t), {
      token: link.token,
    });
    expect(usedUp.statusCode).toBe(404);
    expect((usedUp.json() as Json).code).toBe('INVITE_LINK_INVALID');
    expect(
      (await call('POST', '/group-invite-links/preview', undefined, { token: link.token })).statusCode,
    ).toBe(404);

    const expiring = (
      await call('POST', `/groups/${group.id}/invite-links`, group.owner, { expiresInHours: 1 })
    ).json() as Json;
    await queryRows(
      t.infra.database.db,
      sql`update group_invite_links set expires_at = now() - interval '1 minute' where id = ${expiring.id}`,
    );
    const expired = await call('POST', '/group-invite-links/join', await signUpWithEmail(t), {
      token: expiring.token,
    });
    expect((expired.json() as Json).code).toBe('INVITE_LINK_INVALID');

    const revoked = (await call('POST', `/groups/${group.id}/invite-links`, group.owner)).json() as Json;
    expect(
      (await call('DELETE', `/groups/${group.id}/invite-links/${revoked.id}`, group.owner)).statusCode,
    ).toBe(204);
    const afterRevoke = await call('POST', '/group-invite-links/join', await signUpWithEmail(t), {
      token: revoked.token,
    });
    expect((afterRevoke.json() as Json).code).toBe('INVITE_LINK_INVALID');
    const unknown = await call('POST', '/group-invite-links/join', member, { token: 'x'.repeat(32) });
    expect((unknown.json() as Json).code).toBe('INVITE_LINK_INVALID');

    // Only the hash is stored.
    const rows = await queryRows<{ token_hash: string }>(
      t.infra.database.db,
      sql`select token_hash from group_invite_links where id = ${link.id}`,
    );
    expect(rows[0]!.token_hash).not.toBe(link.token);
  });

  it('invite links hold the cap and their use limit under concurrency', async () => {
    const group = await createGroup(t, { memberCap: 5 });
    const link = (
      await call('POST', `/groups/${group.id}/invite-links`, group.owner, { maxUses: 3 })
    ).json() as Json;
    const people = await Promise.all(Array.from({ length: 10 }, () => signUpWithEmail(t)));
    const results = await Promise.all(
      people.map((p) => call('POST', '/group-invite-links/join', p, { token: link.token })),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(3);
    const capped = (await call('POST', `/groups/${group.id}/invite-links`, group.owner)).json() as Json;
    const more = await Promise.all(
      Array.from({ length: 4 }, async () =>
        call('POST', '/group-invite-links/join', await signUpWithEmail(t), { token: capped.token }),
      ),
    );
    expect(more.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(more.filter((r) => r.statusCode === 409).map((r) => (r.json() as Json).code)).toEqual(
      Array(3).fill('GROUP_FULL'),
    );
    expect(((await call('GET', `/groups/${group.id}`, group.owner)).json() as Json).memberCount).toBe(5);
  });

  it('a join with a pending invitation accepts it, even in an invite-only group', async () => {
    const group = await createGroup(t, { joinPolicy: 'invite_only' });
    const p = await signUpWithEmail(t);
    await inviteUser(t, group.id, group.owner, p.userId);
    expect((await joinGroup(t, group.id, p)).json()).toMatchObject({ status: 'member' });
    expect(await myInvitations(p)).toEqual([]);
  });
});
