import { expect } from 'vitest';
import { ERROR_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import { signUpWithEmail, type SignedUp } from './accounts.js';
import type { TestApp } from './app.js';
import { createEvent, times } from './events.js';
import { addInvited, createGroup, joinGroup } from './groups.js';
import type { Json } from './http.js';

/**
 * The actors of the authorization matrices (test/events, test/discovery) and the worlds they live in. Every
 * actor is one person, signed up once per test file, and put in their state afresh in each world.
 *
 * A world is a 2-seat event with host approval: the host holds one seat, `kicked` and `left` held the other
 * before giving it up, `participant` holds it now, `waitlisted` was accepted when full, `requested` applied,
 * `rejected` was declined, `invited` has a pending invitation. The group actors (a member, an admin, the owner,
 * someone banned from the group, someone removed from it, the owner of another group) have a `group` trait:
 * `buildGroupWorld` puts them in that state in a fresh group, and the host and every actor with an `enter` join
 * that group too, so in a group world they are its members. In a standalone world the group actors are
 * strangers whose groups have nothing to do with the event. Expectations are written from what an actor *is*
 * (`roleOf`, `sees`), not from the policy code, so a change of policy shows up as a failing cell.
 */

/**
 * The app of a matrix: worlds are built by the dozen (no creation throttle), and the access tokens, issued once,
 * live as long as they may (an hour), since some worlds move the clock.
 */
export const MATRIX_ENV: Record<string, string> = {
  EVENT_CREATE_INTERVAL_SECONDS: '0',
  EVENT_CREATE_PER_DAY: '10000',
  ACCESS_TOKEN_TTL_SECONDS: '3600',
  GROUP_CREATE_PER_DAY: '10000',
};

export type Vis = 'public' | 'private';
export type GroupRole = 'owner' | 'admin' | 'member';
/** What a group actor is to the event's group (`otherOwner`: owns a different group). */
export type GroupTrait = GroupRole | 'banned' | 'kicked' | 'otherOwner';
export type Status = 'going' | 'waitlisted' | 'pending' | 'cancelled' | 'rejected' | 'kicked';

export interface Actor {
  name: string;
  signedIn: boolean;
  host?: boolean;
  /** Their row in the event, after `enter`. */
  status?: Status;
  invited?: boolean;
  /** For the group actors: their state in the event's group (only in a group world). */
  group?: GroupTrait;
  /** Puts the person in their state; runs in table order (the order matters for seats). */
  enter?: (w: WorldSetup, who: SignedUp) => Promise<void>;
}

export interface WorldSetup {
  t: TestApp;
  eventId: string;
  host: SignedUp;
  call: (who: SignedUp | null, method: string, url: string, payload?: unknown) => Promise<Json>;
  invitationId?: string;
}

const apply = async (w: WorldSetup, who: SignedUp) => w.call(who, 'POST', `/v1/events/${w.eventId}/join`, {});
const decide = (w: WorldSetup, who: SignedUp, d: 'approve' | 'reject') =>
  w.call(w.host, 'POST', `/v1/events/${w.eventId}/applications/${who.userId}/${d}`);

/** Table order is setup order. The host runs last, since several of the host's successes change the event. */
export const ACTORS: Actor[] = [
  {
    name: 'kicked',
    signedIn: true,
    status: 'kicked',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
      await w.call(w.host, 'DELETE', `/v1/events/${w.eventId}/participants/${who.userId}`);
    },
  },
  {
    name: 'left',
    signedIn: true,
    status: 'cancelled',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
      await w.call(who, 'POST', `/v1/events/${w.eventId}/leave`);
    },
  },
  {
    name: 'participant',
    signedIn: true,
    status: 'going',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
    },
  },
  {
    name: 'waitlisted',
    signedIn: true,
    status: 'waitlisted',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
    },
  },
  { name: 'requested', signedIn: true, status: 'pending', enter: (w, who) => apply(w, who) },
  {
    name: 'rejected',
    signedIn: true,
    status: 'rejected',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'reject');
    },
  },
  {
    name: 'invited',
    signedIn: true,
    invited: true,
    enter: async (w, who) => {
      const inv = await w.call(w.host, 'POST', `/v1/events/${w.eventId}/invitations`, { userId: who.userId });
      w.invitationId = inv.id as string;
    },
  },
  { name: 'stranger', signedIn: true },
  { name: 'otherHost', signedIn: true },
  { name: 'anonymous', signedIn: false },
  // The admin comes before the owner and the host: the first of them to cancel the event wins.
  { name: 'groupMember', signedIn: true, group: 'member' },
  { name: 'groupAdmin', signedIn: true, group: 'admin' },
  { name: 'groupOwner', signedIn: true, group: 'owner' },
  { name: 'groupBanned', signedIn: true, group: 'banned' },
  { name: 'groupKicked', signedIn: true, group: 'kicked' },
  { name: 'otherGroupOwner', signedIn: true, group: 'otherOwner' },
  { name: 'host', signedIn: true, host: true, status: 'going' },
];

export interface World {
  vis: Vis;
  /** The event's group, in a group world. */
  groupId?: string;
  eventId: string;
  invitationId: string;
  people: Map<string, SignedUp>;
  host: SignedUp;
  participant: SignedUp;
  requested: SignedUp;
  otherEventId: string;
}

/**
 * The actor's role in the event's group: none for a standalone event; in a group world the host and the event's
 * actors (those with an `enter`) are plain members, the group actors what their trait says.
 */
export function roleOf(a: Actor, w: World): GroupRole | null {
  if (!w.groupId) return null;
  if (a.group) return a.group === 'owner' || a.group === 'admin' || a.group === 'member' ? a.group : null;
  return a.host || a.enter ? 'member' : null;
}

/** Whether the actor may know the event exists: everyone for a public event; for a private one, those involved. */
export function sees(a: Actor, w: World): boolean {
  if (w.vis === 'public') return true;
  if (!a.signedIn) return false;
  // Someone who left a group event sees it only as a member (checked through the role).
  const statuses = w.groupId
    ? ['going', 'waitlisted', 'pending']
    : ['going', 'waitlisted', 'pending', 'cancelled'];
  return Boolean(a.host || roleOf(a, w) || a.invited) || statuses.includes(a.status ?? '');
}

/** Whether the actor may know the world's group exists: a public group to everyone, a private one to members. */
export const seesGroup = (a: Actor, w: World): boolean =>
  Boolean(w.groupId) && (w.vis === 'public' || roleOf(a, w) !== null);

/** Edits and cancels the event: its host, and the owner and admins of its group. */
export const moderates = (a: Actor, w: World) =>
  Boolean(a.host) || ['owner', 'admin'].includes(roleOf(a, w) ?? '');
/** Holds a place in the event: going, waitlisted or applied. */
export const active = (a: Actor) => ['going', 'waitlisted', 'pending'].includes(a.status ?? '');

export type Outcome = { ok: true } | { code: ErrorCode };
export const OK: Outcome = { ok: true };
export const err = (code: ErrorCode): Outcome => ({ code });

const SENSITIVE_KEY = /email|phone|password|token|secret|hash/i;

/** No body carries anybody's contact details or credentials, under any key or inside any string. */
export function checkNoPersonalData(body: unknown, people: SignedUp[]): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  for (const p of people) {
    expect(text).not.toContain(p.email);
    expect(text).not.toContain(p.accessToken);
  }
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}/${i}`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        expect(SENSITIVE_KEY.test(k), `${path}/${k}`).toBe(false);
        walk(x, `${path}/${k}`);
      }
    }
  };
  walk(body, '');
}

/** Called while a world is built, to give actors a history (likes, feeds) before they reach their state. */
export interface WorldHooks {
  /** In a group world: after everyone joined the group, before the admin is named and the bans and removals. */
  onGroup?: (groupId: string) => Promise<void>;
  /** After the event is created (public unless its group is private), before the actors enter. */
  onEvent?: (eventId: string) => Promise<void>;
}

/** One request of a matrix, and what each actor must get. */
export interface Cell {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string | ((a: Actor) => string);
  body?: (a: Actor) => unknown;
  /** Sent without the actor's token, each request from an address of its own (a calendar app polling a feed). */
  signedOut?: boolean;
  /** The expected outcome for a signed-in actor, or a signed-out one where auth is optional. */
  outcome: (a: Actor) => Outcome;
  auth: 'required' | 'optional';
  /** Checks a 2xx body (JSON, else the text); `nth` counts the 2xx answers of this run before this one. */
  check?: (body: Json, a: Actor, nth: number) => void | Promise<void>;
}

/** The people of the matrices, their worlds, and the runner that compares every actor's answer with a cell. */
export class ActorFixture {
  readonly people = new Map<string, SignedUp>();
  otherEventId = '';
  private counter = 0;
  private addresses = 0;

  constructor(readonly t: TestApp) {}

  /** Signs everyone up, and gives `otherHost` an event and `otherGroupOwner` a group of their own. */
  async setUp(): Promise<void> {
    for (const a of ACTORS) if (a.signedIn) this.people.set(a.name, await signUpWithEmail(this.t));
    this.otherEventId = (
      await createEvent(this.t, { title: 'Another host’s run' }, this.person('otherHost'))
    ).id;
    await createGroup(this.t, { name: 'Another crew' }, this.person('otherGroupOwner'));
  }

  person(name: string): SignedUp {
    const p = this.people.get(name);
    if (!p) throw new Error(`no actor ${name}`);
    return p;
  }

  who(a: Actor): SignedUp | null {
    return a.signedIn ? this.person(a.name) : null;
  }

  async call(
    who: SignedUp | null,
    method: string,
    url: string,
    payload?: unknown,
    /** `fresh`: from an address of its own, so per-address limits (missed feed secrets) do not add up. */
    opts: { fresh?: boolean } = {},
  ): Promise<{ status: number; body: Json; text: string; headers: Record<string, unknown> }> {
    const n = ++this.addresses;
    const res = await this.t.app.inject({
      method: method as 'GET',
      url,
      ...(opts.fresh ? { remoteAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` } : {}),
      ...(who ? { headers: who.headers } : {}),
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
    const json = res.headers['content-type']?.toString().startsWith('application/json');
    return {
      status: res.statusCode,
      body: res.body && json ? (res.json() as Json) : null,
      text: res.body,
      headers: res.headers,
    };
  }

  /** As `call`, for set-up steps: anything but a 2xx fails the test. */
  async must(who: SignedUp | null, method: string, url: string, payload?: unknown): Promise<Json> {
    const res = await this.call(who, method, url, payload);
    if (res.status >= 300) throw new Error(`setup ${method} ${url}: ${res.status} ${res.text}`);
    return res.body;
  }

  /** A fresh event with every actor in their state; private events are made private after the setup. */
  async buildWorld(
    vis: Vis,
    startInMinutes: number,
    durationMinutes: number,
    /** More fields of the event, e.g. `{ groupId }` for the group actors. */
    fields: Record<string, unknown> = {},
    hooks: WorldHooks = {},
  ): Promise<World> {
    const host = this.person('host');
    const event = await createEvent(
      this.t,
      {
        title: `Authz run ${++this.counter}`,
        ...times(this.t, startInMinutes, durationMinutes),
        capacity: 2,
        requiresApproval: true,
        ...fields,
      },
      host,
    );
    await hooks.onEvent?.(event.id);
    const setup: WorldSetup = {
      t: this.t,
      eventId: event.id,
      host,
      call: (who, method, url, payload) => this.must(who, method, url, payload),
    };
    for (const a of ACTORS) if (a.enter) await a.enter(setup, this.person(a.name));
    if (vis === 'private')
      await this.must(host, 'PATCH', `/v1/events/${event.id}`, { visibility: 'private' });
    return {
      vis,
      ...(typeof fields.groupId === 'string' ? { groupId: fields.groupId } : {}),
      eventId: event.id,
      invitationId: setup.invitationId!,
      people: this.people,
      host,
      participant: this.person('participant'),
      requested: this.person('requested'),
      otherEventId: this.otherEventId,
    };
  }

  /**
   * A fresh group of that visibility (public: open; private: invite-only) with the host, every actor with an
   * `enter` and the group actors in their states, and a world whose event is inside it (private in a private
   * group).
   */
  async buildGroupWorld(
    vis: Vis,
    startInMinutes: number,
    durationMinutes: number,
    hooks: WorldHooks = {},
  ): Promise<World> {
    const owner = this.person('groupOwner');
    const group = await createGroup(
      this.t,
      {
        name: `Authz crew ${++this.counter}`,
        ...(vis === 'private'
          ? { visibility: 'private', joinPolicy: 'invite_only' }
          : { joinPolicy: 'open' }),
      },
      owner,
    );
    const joining = ACTORS.filter(
      (a) => a.host || a.enter || ['member', 'admin', 'banned', 'kicked'].includes(a.group ?? ''),
    );
    const members = joining.map((a) => this.person(a.name));
    if (vis === 'private') await addInvited(this.t, group, members);
    else {
      for (const m of members) {
        const res = await joinGroup(this.t, group.id, m);
        if (res.statusCode !== 200) throw new Error(`join group: ${res.statusCode} ${res.body}`);
      }
    }
    await hooks.onGroup?.(group.id);
    const by = (method: string, url: string, payload?: unknown) =>
      this.must(owner, method, `/v1/groups/${group.id}${url}`, payload);
    await by('PATCH', `/members/${this.person('groupAdmin').userId}`, { role: 'admin' });
    await by('POST', '/bans', { userId: this.person('groupBanned').userId });
    await by('DELETE', `/members/${this.person('groupKicked').userId}`);
    return this.buildWorld(
      vis,
      startInMinutes,
      durationMinutes,
      { groupId: group.id, visibility: vis },
      hooks,
    );
  }

  /**
   * Runs one request for every actor in table order and returns the cells that went wrong: an unexpected status
   * (signed out where auth is required must be 401), a body with personal data, or a failed `check`.
   */
  async runCells(cell: Cell): Promise<string[]> {
    const failures: string[] = [];
    let nth = 0;
    for (const a of ACTORS) {
      const expected: Outcome =
        !a.signedIn && cell.auth === 'required' ? err('UNAUTHENTICATED') : cell.outcome(a);
      const url = typeof cell.url === 'string' ? cell.url : cell.url(a);
      const res = cell.signedOut
        ? await this.call(null, cell.method, url, cell.body?.(a), { fresh: true })
        : await this.call(this.who(a), cell.method, url, cell.body?.(a));
      const got = res.status < 300 ? 'ok' : `${res.status} ${res.body?.code}`;
      const want = 'ok' in expected ? 'ok' : `${ERROR_STATUS[expected.code]} ${expected.code}`;
      if (got !== want) {
        failures.push(`${a.name}: expected ${want}, got ${got}`);
        continue;
      }
      if (res.status < 300) {
        try {
          if (res.text) checkNoPersonalData(res.body ?? res.text, [...this.people.values()]);
          await cell.check?.(res.body ?? res.text, a, nth);
        } catch (e) {
          failures.push(`${a.name}: ${(e as Error).message}`);
        }
        nth++;
      }
    }
    return failures;
  }
}
