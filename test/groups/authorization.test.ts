import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createGroup } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

/**
 * Every groups route against every actor, for a public and a private group: an actor outside the allowed set
 * never gets a 2xx, an outsider of a private group gets 404 (anonymous callers 401 where sign-in is required),
 * and no answer carries a field its caller may not see.
 */

const ACTORS = [
  'anonymous',
  'unrelated',
  'invited',
  'requested',
  'member',
  'admin',
  'owner',
  'kicked',
  'banned',
  'otherOwner',
] as const;
type Actor = (typeof ACTORS)[number];
type Visibility = 'public' | 'private';

const SIGNED_IN: Actor[] = ACTORS.filter((a) => a !== 'anonymous');
const MEMBERS: Actor[] = ['member', 'admin', 'owner'];
const MANAGERS: Actor[] = ['admin', 'owner'];
/** Who sees a private group at all: its members and whoever holds an invitation. */
const SEES_PRIVATE = new Set<Actor>([...MEMBERS, 'invited']);

/** Keys no groups answer may ever carry, whoever asks. */
const NEVER = [
  'email',
  'phone',
  'phoneHash',
  'phoneEnc',
  'passwordHash',
  'tokenHash',
  'contactHash',
  'inviteeId',
];

interface Fixture {
  groupId: string;
  otherGroupId: string;
  invitationId: string;
  contactInvitationId: string;
  linkId: string;
  token: string;
  /** People routes act on (not actors): a member to ban, a stranger to invite. */
  extra: SignedUp;
  newcomer: SignedUp;
}

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: (f: Fixture, p: People) => string;
  body?: (f: Fixture, p: People) => Json;
  allow: Record<Visibility, Actor[]>;
  /** A 2xx here changes the group, so the next actor gets a fresh one. */
  dirties: boolean;
  /** Extra checks of a 2xx answer: fields the actor may not see. */
  check?: (body: Json, actor: Actor, f: Fixture, v: Visibility) => void;
}

type People = Record<Exclude<Actor, 'anonymous'>, SignedUp>;

const both = (actors: Actor[]) => ({ public: actors, private: actors });

const ROUTES: Route[] = [
  {
    name: 'create a group',
    method: 'POST',
    url: () => '/v1/groups',
    body: () => ({ name: 'Another group' }),
    allow: both(SIGNED_IN),
    dirties: false,
  },
  {
    name: 'list public groups',
    method: 'GET',
    url: () => '/v1/groups?limit=100',
    allow: both([...ACTORS]),
    dirties: false,
    check: (body, _a, f, v) => {
      const ids = (body.items as Json[]).map((g) => g.id);
      if (v === 'private') expect(ids).not.toContain(f.groupId);
    },
  },
  {
    name: 'my groups',
    method: 'GET',
    url: () => '/v1/me/groups',
    allow: both(SIGNED_IN),
    dirties: false,
    check: (body, actor, f) => {
      const ids = (body.items as Json[]).map((g) => g.group.id);
      expect(ids.includes(f.groupId), actor).toBe(MEMBERS.includes(actor));
    },
  },
  {
    name: 'read a group',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}`,
    allow: { public: [...ACTORS], private: [...SEES_PRIVATE] },
    dirties: false,
    check: (body, actor, _f, v) => {
      if (v === 'private' && actor === 'invited') {
        expect(body.view).toBe('preview');
        for (const k of ['description', 'owner', 'tags', 'lat', 'lng', 'region', 'createdAt'])
          expect(body, k).not.toHaveProperty(k);
      } else {
        expect(body.view).toBe('full');
      }
    },
  },
  {
    name: 'edit a group',
    method: 'PATCH',
    url: (f) => `/v1/groups/${f.groupId}`,
    body: () => ({ description: 'edited' }),
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'delete a group',
    method: 'DELETE',
    url: (f) => `/v1/groups/${f.groupId}`,
    allow: both(['owner']),
    dirties: true,
  },
  {
    name: 'list members',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/members?limit=100`,
    allow: { public: [...ACTORS], private: MEMBERS },
    dirties: false,
    check: (body, _a, f) => {
      const ids = (body.items as Json[]).map((m) => m.user.id);
      expect(ids).not.toContain(f.newcomer.userId);
    },
  },
  {
    name: 'join',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/join`,
    body: () => ({}),
    // An approval group: outsiders file a request; the invited person's invitation is accepted.
    allow: { public: ['unrelated', 'invited', 'kicked', 'otherOwner'], private: ['invited'] },
    dirties: true,
  },
  {
    name: 'withdraw a join request',
    method: 'DELETE',
    url: (f) => `/v1/groups/${f.groupId}/join-request`,
    allow: { public: ['requested'], private: [] },
    dirties: true,
  },
  {
    name: 'leave',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/leave`,
    allow: both(['member', 'admin']),
    dirties: true,
  },
  {
    name: 'list join requests',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/join-requests`,
    allow: both(MANAGERS),
    dirties: false,
  },
  {
    name: 'approve a join request',
    method: 'POST',
    url: (f, p) => `/v1/groups/${f.groupId}/join-requests/${p.requested.userId}/approve`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'reject a join request',
    method: 'POST',
    url: (f, p) => `/v1/groups/${f.groupId}/join-requests/${p.requested.userId}/reject`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: "change a member's display name",
    method: 'PATCH',
    url: (f, p) => `/v1/groups/${f.groupId}/members/${p.member.userId}`,
    body: () => ({ displayName: 'Cousin' }),
    allow: both(['member', 'admin', 'owner']),
    dirties: true,
  },
  {
    name: "change a member's role",
    method: 'PATCH',
    url: (f, p) => `/v1/groups/${f.groupId}/members/${p.member.userId}`,
    body: () => ({ role: 'admin' }),
    allow: both(['owner']),
    dirties: true,
  },
  {
    name: 'remove a member',
    method: 'DELETE',
    url: (f, p) => `/v1/groups/${f.groupId}/members/${p.member.userId}`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'transfer ownership',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/transfer`,
    body: (_f, p) => ({ userId: p.member.userId }),
    allow: both(['owner']),
    dirties: true,
  },
  {
    name: 'list bans',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/bans`,
    allow: both(MANAGERS),
    dirties: false,
  },
  {
    name: 'ban',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/bans`,
    body: (f) => ({ userId: f.extra.userId }),
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'unban',
    method: 'DELETE',
    url: (f, p) => `/v1/groups/${f.groupId}/bans/${p.banned.userId}`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'invite by user id',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/invitations`,
    body: (f) => ({ userId: f.newcomer.userId }),
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'invite by email',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/invitations`,
    body: (f) => ({ email: f.newcomer.email }),
    allow: both(MANAGERS),
    dirties: true,
    check: (body) => expect(body.invitee).toBeNull(),
  },
  {
    name: 'list invitations',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/invitations`,
    allow: both(MANAGERS),
    dirties: false,
    check: (body, _a, f) => {
      const contact = (body.items as Json[]).find((i) => i.id === f.contactInvitationId);
      expect(contact).toMatchObject({ via: 'email', invitee: null });
    },
  },
  {
    name: 'withdraw an invitation',
    method: 'DELETE',
    url: (f) => `/v1/groups/${f.groupId}/invitations/${f.invitationId}`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'my invitations',
    method: 'GET',
    url: () => '/v1/me/group-invitations',
    allow: both(SIGNED_IN),
    dirties: false,
    check: (body, actor, f, v) => {
      const mine = (body.items as Json[]).filter((i) => i.group.id === f.groupId);
      expect(mine.length, actor).toBe(actor === 'invited' ? 1 : 0);
      if (mine[0] && v === 'private') expect(mine[0].group).not.toHaveProperty('description');
    },
  },
  {
    name: 'accept an invitation',
    method: 'POST',
    url: (f) => `/v1/group-invitations/${f.invitationId}/accept`,
    body: () => ({}),
    allow: both(['invited']),
    dirties: true,
  },
  {
    name: 'decline an invitation',
    method: 'POST',
    url: (f) => `/v1/group-invitations/${f.invitationId}/reject`,
    allow: both(['invited']),
    dirties: true,
  },
  {
    name: 'make an invite link',
    method: 'POST',
    url: (f) => `/v1/groups/${f.groupId}/invite-links`,
    body: () => ({ maxUses: 3 }),
    allow: both(MANAGERS),
    dirties: false,
  },
  {
    name: 'list invite links',
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/invite-links`,
    allow: both(MANAGERS),
    dirties: false,
    check: (body) => {
      for (const l of body.items as Json[]) expect(l).not.toHaveProperty('token');
    },
  },
  {
    name: 'revoke an invite link',
    method: 'DELETE',
    url: (f) => `/v1/groups/${f.groupId}/invite-links/${f.linkId}`,
    allow: both(MANAGERS),
    dirties: true,
  },
  {
    name: 'preview an invite link',
    method: 'POST',
    url: () => '/v1/group-invite-links/preview',
    body: (f) => ({ token: f.token }),
    // Holding the secret is what lets one look.
    allow: both([...ACTORS]),
    dirties: false,
    check: (body, _a, _f, v) => {
      if (v === 'private') expect(body).not.toHaveProperty('description');
    },
  },
  {
    name: 'join with an invite link',
    method: 'POST',
    url: () => '/v1/group-invite-links/join',
    body: (f) => ({ token: f.token }),
    allow: both(['unrelated', 'invited', 'requested', 'kicked', 'otherOwner']),
    dirties: true,
  },
  {
    name: "the group's conversation",
    method: 'GET',
    url: (f) => `/v1/groups/${f.groupId}/conversation`,
    allow: both(MEMBERS),
    dirties: false,
  },
];

/** Paths of any forbidden key anywhere in a body. */
function forbiddenKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => forbiddenKeys(v, `${path}/${i}`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(NEVER.includes(k) ? [`${path}/${k}`] : []),
      ...forbiddenKeys(v, `${path}/${k}`),
    ]);
  }
  return [];
}

describe('groups authorization matrix: every route × every actor × public and private', () => {
  let t: TestApp;
  let people: People;
  beforeAll(async () => {
    t = await buildTestApp({
      env: { GROUP_CREATE_PER_DAY: '10000', GROUP_CONTACT_INVITES_PER_HOUR: '10000' },
    });
    const names = SIGNED_IN as Exclude<Actor, 'anonymous'>[];
    const signed = await Promise.all(names.map(() => signUpWithEmail(t)));
    people = Object.fromEntries(names.map((n, i) => [n, signed[i]!])) as People;
  });
  afterAll(async () => {
    await t.close();
  });

  const call = (method: Route['method'], url: string, who: SignedUp | null, payload?: Json) =>
    t.app.inject({
      method,
      url,
      ...(who ? { headers: who.headers } : {}),
      ...(payload !== undefined ? { payload } : {}),
    });
  const ok = (res: { statusCode: number; body: string }, what: string) => {
    if (res.statusCode >= 300) throw new Error(`${what}: ${res.statusCode} ${res.body}`);
    return (res.body ? JSON.parse(res.body) : null) as Json;
  };

  /** A group with one person in every relation to it. */
  async function fixture(visibility: Visibility): Promise<Fixture> {
    const p = people;
    const group = await createGroup(t, { joinPolicy: 'approval', name: 'Matrix group' }, p.owner);
    const other = await createGroup(t, { name: 'Other group' }, p.otherOwner);
    const [extra, newcomer] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t)]);
    const link = ok(await call('POST', `/v1/groups/${group.id}/invite-links`, p.owner, {}), 'link');
    for (const who of [p.member, p.admin, p.kicked, p.banned, extra]) {
      ok(await call('POST', '/v1/group-invite-links/join', who, { token: link.token }), 'link join');
    }
    const g = `/v1/groups/${group.id}`;
    ok(await call('PATCH', `${g}/members/${p.admin.userId}`, p.owner, { role: 'admin' }), 'promote');
    ok(await call('DELETE', `${g}/members/${p.kicked.userId}`, p.owner), 'kick');
    ok(await call('POST', `${g}/bans`, p.owner, { userId: p.banned.userId }), 'ban');
    const invitation = ok(
      await call('POST', `${g}/invitations`, p.owner, { userId: p.invited.userId }),
      'invite',
    );
    const contact = ok(
      await call('POST', `${g}/invitations`, p.owner, { email: `nobody-${group.id}@example.com` }),
      'contact invite',
    );
    ok(await call('POST', `${g}/join`, p.requested, {}), 'request');
    if (visibility === 'private') ok(await call('PATCH', g, p.owner, { visibility: 'private' }), 'private');
    return {
      groupId: group.id,
      otherGroupId: other.id,
      invitationId: invitation.id,
      contactInvitationId: contact.id,
      linkId: link.id,
      token: link.token,
      extra,
      newcomer,
    };
  }

  for (const visibility of ['public', 'private'] as const) {
    it(`${visibility} group`, { timeout: 600_000 }, async () => {
      const failures: string[] = [];
      for (const route of ROUTES) {
        let f = await fixture(visibility);
        for (const actor of ACTORS) {
          const who = actor === 'anonymous' ? null : people[actor];
          const res = await call(route.method, route.url(f, people), who, route.body?.(f, people));
          const label = `${visibility} · ${route.name} · ${actor} → ${res.statusCode}`;
          const allowed = route.allow[visibility].includes(actor);
          const success = res.statusCode >= 200 && res.statusCode < 300;
          if (res.statusCode >= 500) failures.push(`${label}: server error ${res.body}`);
          if (success && !allowed) failures.push(`${label}: unexpected success ${res.body.slice(0, 200)}`);
          if (!success && allowed) failures.push(`${label}: refused ${res.body.slice(0, 200)}`);
          if (!success && !allowed) {
            const groupScoped = route.url(f, people).includes(f.groupId);
            const requiresAuth = ![
              'list public groups',
              'read a group',
              'list members',
              'preview an invite link',
            ].includes(route.name);
            if (actor === 'anonymous' && requiresAuth && res.statusCode !== 401) {
              failures.push(`${label}: anonymous should get 401`);
            } else if (
              visibility === 'private' &&
              groupScoped &&
              actor !== 'anonymous' &&
              !SEES_PRIVATE.has(actor) &&
              res.statusCode !== 404
            ) {
              failures.push(`${label}: an outsider of a private group should get 404`);
            }
          }
          if (success && res.body) {
            const body = JSON.parse(res.body) as Json;
            const leaked = forbiddenKeys(body).filter(
              (k) => !(route.name === 'make an invite link' && k === '/token'),
            );
            if (leaked.length > 0) failures.push(`${label}: leaks ${leaked.join(', ')}`);
            try {
              route.check?.(body, actor, f, visibility);
            } catch (err) {
              failures.push(`${label}: ${(err as Error).message}`);
            }
          }
          if (success && route.dirties) f = await fixture(visibility);
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
