import type { Executor } from '../../src/infra/db/database.js';
import type { GroupDirectory } from '../../src/modules/events/event-access.js';
import type { TestApp } from '../helpers/app.js';
import type { SignedUp } from '../helpers/accounts.js';

type Group = NonNullable<Awaited<ReturnType<GroupDirectory['findGroup']>>>;
type Membership = NonNullable<Awaited<ReturnType<GroupDirectory['membership']>>>;

/**
 * A stand-in for the groups module behind the events module's GroupDirectory port, until the real one lands:
 * groups and memberships the test sets by hand.
 */
export class FakeGroups implements GroupDirectory {
  private readonly groups = new Map<string, Group>();
  private readonly members = new Map<string, Map<string, Membership>>();

  add(group: Group): Group {
    this.groups.set(group.id, group);
    this.members.set(group.id, new Map());
    this.join(group.id, group.ownerId, 'owner');
    return group;
  }

  join(
    groupId: string,
    userId: string,
    role: Membership['role'] = 'member',
    displayName: string | null = null,
  ) {
    this.members.get(groupId)!.set(userId, { role, displayName });
  }

  leave(groupId: string, userId: string) {
    this.members.get(groupId)!.delete(userId);
  }

  remove(groupId: string) {
    this.groups.delete(groupId);
  }

  async findGroup(_exec: Executor, groupId: string) {
    return this.groups.get(groupId) ?? null;
  }

  async membership(_exec: Executor, groupId: string, userId: string) {
    return this.members.get(groupId)?.get(userId) ?? null;
  }
}

/** An instant given as Korean wall-clock time (KST is UTC+9 all year: no daylight saving). */
export const kst = (y: number, m: number, d: number, h = 0, min = 0) =>
  new Date(Date.UTC(y, m - 1, d, h - 9, min));

/** The KST year and month `monthsAhead` months after the app clock's current KST month. */
export function kstMonth(t: TestApp, monthsAhead: number): { y: number; m: number; label: string } {
  const now = new Date(t.infra.clock.now().getTime() + 9 * 3_600_000);
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + monthsAhead, 1));
  const y = first.getUTCFullYear();
  const m = first.getUTCMonth() + 1;
  return { y, m, label: `${y}-${String(m).padStart(2, '0')}` };
}

export const label = (y: number, m: number, d?: number) =>
  `${y}-${String(m).padStart(2, '0')}${d === undefined ? '' : `-${String(d).padStart(2, '0')}`}`;

export const span = (start: Date, minutes: number) => ({
  startsAt: start.toISOString(),
  endsAt: new Date(start.getTime() + minutes * 60_000).toISOString(),
});

export function get(t: TestApp, url: string, who?: SignedUp, headers: Record<string, string> = {}) {
  return t.app.inject({ url, headers: { ...(who ? who.headers : {}), ...headers } });
}
