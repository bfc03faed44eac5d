import { and, asc, desc, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import {
  groupBans,
  groupInvitations,
  groupInviteLinks,
  groupJoinRequests,
  groupMembers,
  groups,
  type GroupRole,
} from './groups.schema.js';

export type GroupRow = typeof groups.$inferSelect;
export type NewGroup = typeof groups.$inferInsert;
export type MemberRow = typeof groupMembers.$inferSelect;
export type BanRow = typeof groupBans.$inferSelect;
export type JoinRequestRow = typeof groupJoinRequests.$inferSelect;
export type InvitationRow = typeof groupInvitations.$inferSelect;
export type InviteLinkRow = typeof groupInviteLinks.$inferSelect;

export interface PersonCard {
  id: string;
  nickname: string;
  avatarUrl: string | null;
}

export interface MemberWithUser extends MemberRow {
  nickname: string;
  avatarUrl: string | null;
}

export interface MyGroup {
  group: GroupRow;
  role: GroupRole;
  displayName: string | null;
  joinedAt: Date;
}

export interface InvitationWithGroup extends InvitationRow {
  group: GroupRow;
  inviter: PersonCard;
}

const person = { id: users.id, nickname: users.nickname, avatarUrl: users.avatarUrl };
const live = isNull(groups.deletedAt);

/** The SQL of groups, members, bans, join requests, invitations and invite links. */
export class GroupsRepository {
  // groups

  async insertGroup(tx: Executor, values: NewGroup): Promise<GroupRow> {
    const [row] = await tx.insert(groups).values(values).returning();
    return row!;
  }

  /** A group that has not been deleted. */
  async findGroup(db: Executor, id: string): Promise<GroupRow | undefined> {
    const [row] = await db
      .select()
      .from(groups)
      .where(and(eq(groups.id, id), live));
    return row;
  }

  /** Locks the group row: every change to one group's membership goes one at a time. */
  async lockGroup(tx: Executor, id: string): Promise<GroupRow | undefined> {
    const [row] = await tx
      .select()
      .from(groups)
      .where(and(eq(groups.id, id), live))
      .for('update');
    return row;
  }

  async updateGroup(tx: Executor, id: string, fields: Partial<NewGroup>): Promise<GroupRow> {
    const [row] = await tx
      .update(groups)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(eq(groups.id, id))
      .returning();
    return row!;
  }

  /** Recounts the members from their rows, so the counter never drifts from what it counts. */
  async refreshCount(tx: Executor, id: string): Promise<GroupRow> {
    const [row] = await tx
      .update(groups)
      .set({
        memberCount: sql`(select count(*)::int from ${groupMembers} m where m.group_id = ${id})`,
      })
      .where(eq(groups.id, id))
      .returning();
    return row!;
  }

  /** Public groups, newest first, with optional filters; keyset-paginated on (created_at, id). */
  async listPublic(
    db: Executor,
    filter: { q?: string; kind?: string; tag?: string; region?: string },
    after: { at: string; id: string } | null,
    limit: number,
  ): Promise<(GroupRow & { cursorAt: string })[]> {
    const conds: (SQL | undefined)[] = [live, eq(groups.visibility, 'public')];
    if (filter.q) conds.push(sql`${groups.name} ilike ${'%' + escapeLike(filter.q) + '%'}`);
    if (filter.kind) conds.push(eq(groups.kind, filter.kind as GroupRow['kind']));
    if (filter.tag) conds.push(sql`${groups.tags} @> array[${filter.tag.toLowerCase()}]::text[]`);
    if (filter.region) conds.push(eq(groups.region, filter.region));
    if (after) {
      conds.push(sql`(${groups.createdAt}, ${groups.id}) < (${after.at}::timestamptz, ${after.id}::uuid)`);
    }
    // The cursor carries the timestamp as PostgreSQL prints it: microseconds, which a JS Date would round off.
    const rows = await db
      .select({ g: groups, cursorAt: sql<string>`${groups.createdAt}::text` })
      .from(groups)
      .where(and(...conds))
      .orderBy(desc(groups.createdAt), desc(groups.id))
      .limit(limit);
    return rows.map((r) => ({ ...r.g, cursorAt: r.cursorAt }));
  }

  /** Groups a person owns, for handing them over when the account goes. */
  async ownedGroupIds(db: Executor, ownerId: string): Promise<string[]> {
    const rows = await db
      .select({ id: groups.id })
      .from(groups)
      .where(and(eq(groups.ownerId, ownerId), live));
    return rows.map((r) => r.id);
  }

  // members

  async findMember(db: Executor, groupId: string, userId: string): Promise<MemberRow | undefined> {
    const [row] = await db
      .select()
      .from(groupMembers)
      .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)));
    return row;
  }

  /**
   * Holds a live group's membership until the caller's transaction ends: the group row, then the member row, each
   * `FOR SHARE` (the order every member change takes them in, so the two never wait on each other in a cycle). A
   * departure or the group's deletion waits for the caller to commit, and then sees what it wrote.
   */
  async holdMembership(tx: Executor, groupId: string, userId: string): Promise<boolean> {
    const [group] = await tx
      .select({ id: groups.id })
      .from(groups)
      .where(and(eq(groups.id, groupId), live))
      .for('share');
    if (!group) return false;
    const [member] = await tx
      .select({ userId: groupMembers.userId })
      .from(groupMembers)
      .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)))
      .for('share');
    return member !== undefined;
  }

  /** A live group's member: what the events module asks. */
  async liveMembership(db: Executor, groupId: string, userId: string): Promise<MemberRow | undefined> {
    const [row] = await db
      .select({ m: groupMembers })
      .from(groupMembers)
      .innerJoin(groups, eq(groups.id, groupMembers.groupId))
      .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId), live));
    return row?.m;
  }

  async insertMember(
    tx: Executor,
    values: { groupId: string; userId: string; role: GroupRole; displayName: string | null },
  ): Promise<MemberRow> {
    const [row] = await tx.insert(groupMembers).values(values).returning();
    return row!;
  }

  async deleteMember(tx: Executor, groupId: string, userId: string): Promise<boolean> {
    const rows = await tx
      .delete(groupMembers)
      .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)))
      .returning({ userId: groupMembers.userId });
    return rows.length > 0;
  }

  async setMember(
    tx: Executor,
    groupId: string,
    userId: string,
    fields: Partial<Pick<MemberRow, 'role' | 'displayName'>>,
  ): Promise<MemberRow> {
    const [row] = await tx
      .update(groupMembers)
      .set(fields)
      .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)))
      .returning();
    return row!;
  }

  async displayNameTaken(
    db: Executor,
    groupId: string,
    name: string,
    exceptUserId: string,
  ): Promise<boolean> {
    const [row] = await db
      .select({ userId: groupMembers.userId })
      .from(groupMembers)
      .where(
        and(
          eq(groupMembers.groupId, groupId),
          sql`lower(${groupMembers.displayName}) = ${name.toLowerCase()}`,
          sql`${groupMembers.userId} <> ${exceptUserId}`,
        ),
      )
      .limit(1);
    return row !== undefined;
  }

  /** Members in the order they joined, keyset-paginated on (joined_at, user_id). */
  async listMembers(
    db: Executor,
    groupId: string,
    after: { at: string; userId: string } | null,
    limit: number,
  ): Promise<(MemberWithUser & { cursorAt: string })[]> {
    const rows = await db
      .select({
        m: groupMembers,
        nickname: users.nickname,
        avatarUrl: users.avatarUrl,
        cursorAt: sql<string>`${groupMembers.joinedAt}::text`,
      })
      .from(groupMembers)
      .innerJoin(users, eq(users.id, groupMembers.userId))
      .where(
        and(
          eq(groupMembers.groupId, groupId),
          after
            ? sql`(${groupMembers.joinedAt}, ${groupMembers.userId}) > (${after.at}::timestamptz, ${after.userId}::uuid)`
            : undefined,
        ),
      )
      .orderBy(asc(groupMembers.joinedAt), asc(groupMembers.userId))
      .limit(limit);
    return rows.map((r) => ({ ...r.m, nickname: r.nickname, avatarUrl: r.avatarUrl, cursorAt: r.cursorAt }));
  }

  /** The member who takes over from a departing owner: the longest-standing admin, else member. */
  async successor(tx: Executor, groupId: string, exceptUserId: string): Promise<MemberRow | undefined> {
    const [row] = await tx
      .select({ m: groupMembers })
      .from(groupMembers)
      .innerJoin(users, eq(users.id, groupMembers.userId))
      .where(
        and(
          eq(groupMembers.groupId, groupId),
          sql`${groupMembers.userId} <> ${exceptUserId}`,
          isNull(users.deletedAt),
        ),
      )
      .orderBy(
        desc(sql`${groupMembers.role} = 'admin'`),
        asc(groupMembers.joinedAt),
        asc(groupMembers.userId),
      )
      .limit(1);
    return row?.m;
  }

  async myGroups(db: Executor, userId: string): Promise<MyGroup[]> {
    const rows = await db
      .select({ g: groups, m: groupMembers })
      .from(groupMembers)
      .innerJoin(groups, eq(groups.id, groupMembers.groupId))
      .where(and(eq(groupMembers.userId, userId), live))
      .orderBy(desc(groupMembers.joinedAt), asc(groups.id));
    return rows.map((r) => ({
      group: r.g,
      role: r.m.role,
      displayName: r.m.displayName,
      joinedAt: r.m.joinedAt,
    }));
  }

  /** Live groups a person belongs to (for account deletion). */
  async membershipGroupIds(db: Executor, userId: string): Promise<string[]> {
    const rows = await db
      .select({ id: groupMembers.groupId })
      .from(groupMembers)
      .innerJoin(groups, eq(groups.id, groupMembers.groupId))
      .where(and(eq(groupMembers.userId, userId), live));
    return rows.map((r) => r.id);
  }

  // bans

  async findBan(db: Executor, groupId: string, userId: string): Promise<BanRow | undefined> {
    const [row] = await db
      .select()
      .from(groupBans)
      .where(and(eq(groupBans.groupId, groupId), eq(groupBans.userId, userId)));
    return row;
  }

  async bannedGroupIds(db: Executor, userId: string): Promise<string[]> {
    const rows = await db
      .select({ groupId: groupBans.groupId })
      .from(groupBans)
      .where(eq(groupBans.userId, userId));
    return rows.map((r) => r.groupId);
  }

  async insertBan(
    tx: Executor,
    values: { groupId: string; userId: string; bannedBy: string; reason: string | null },
  ): Promise<BanRow | undefined> {
    const [row] = await tx.insert(groupBans).values(values).onConflictDoNothing().returning();
    return row;
  }

  async deleteBan(tx: Executor, groupId: string, userId: string): Promise<boolean> {
    const rows = await tx
      .delete(groupBans)
      .where(and(eq(groupBans.groupId, groupId), eq(groupBans.userId, userId)))
      .returning({ userId: groupBans.userId });
    return rows.length > 0;
  }

  async listBans(db: Executor, groupId: string): Promise<(BanRow & { user: PersonCard })[]> {
    const rows = await db
      .select({ b: groupBans, user: person })
      .from(groupBans)
      .innerJoin(users, eq(users.id, groupBans.userId))
      .where(eq(groupBans.groupId, groupId))
      .orderBy(desc(groupBans.createdAt), asc(groupBans.userId));
    return rows.map((r) => ({ ...r.b, user: r.user }));
  }

  // join requests

  async pendingRequest(db: Executor, groupId: string, userId: string): Promise<JoinRequestRow | undefined> {
    const [row] = await db
      .select()
      .from(groupJoinRequests)
      .where(
        and(
          eq(groupJoinRequests.groupId, groupId),
          eq(groupJoinRequests.userId, userId),
          eq(groupJoinRequests.status, 'pending'),
        ),
      );
    return row;
  }

  async insertRequest(
    tx: Executor,
    values: { groupId: string; userId: string; message: string | null },
  ): Promise<JoinRequestRow> {
    const [row] = await tx.insert(groupJoinRequests).values(values).returning();
    return row!;
  }

  async decideRequest(
    tx: Executor,
    id: string,
    status: 'approved' | 'rejected' | 'cancelled',
    decidedBy: string | null,
  ): Promise<JoinRequestRow> {
    const [row] = await tx
      .update(groupJoinRequests)
      .set({ status, decidedBy, decidedAt: sql`now()` })
      .where(eq(groupJoinRequests.id, id))
      .returning();
    return row!;
  }

  async listRequests(db: Executor, groupId: string): Promise<(JoinRequestRow & { user: PersonCard })[]> {
    const rows = await db
      .select({ r: groupJoinRequests, user: person })
      .from(groupJoinRequests)
      .innerJoin(users, eq(users.id, groupJoinRequests.userId))
      .where(and(eq(groupJoinRequests.groupId, groupId), eq(groupJoinRequests.status, 'pending')))
      .orderBy(asc(groupJoinRequests.createdAt), asc(groupJoinRequests.id));
    return rows.map((r) => ({ ...r.r, user: r.user }));
  }

  // invitations

  async insertInvitation(tx: Executor, values: typeof groupInvitations.$inferInsert): Promise<InvitationRow> {
    const [row] = await tx.insert(groupInvitations).values(values).returning();
    return row!;
  }

  async findInvitation(db: Executor, id: string): Promise<InvitationRow | undefined> {
    const [row] = await db.select().from(groupInvitations).where(eq(groupInvitations.id, id));
    return row;
  }

  /** The invitee's pending, unexpired invitation to a group. */
  async pendingInvitation(
    db: Executor,
    groupId: string,
    inviteeId: string,
    now: Date,
  ): Promise<InvitationRow | undefined> {
    const [row] = await db
      .select()
      .from(groupInvitations)
      .where(
        and(
          eq(groupInvitations.groupId, groupId),
          eq(groupInvitations.inviteeId, inviteeId),
          eq(groupInvitations.status, 'pending'),
          gt(groupInvitations.expiresAt, now),
        ),
      )
      .orderBy(asc(groupInvitations.createdAt))
      .limit(1);
    return row;
  }

  /** A pending invitation, expired or not (expired ones still hold the unique slot until replaced). */
  async anyPending(
    db: Executor,
    groupId: string,
    where: { inviteeId: string } | { contactHash: string },
  ): Promise<InvitationRow | undefined> {
    const [row] = await db
      .select()
      .from(groupInvitations)
      .where(
        and(
          eq(groupInvitations.groupId, groupId),
          eq(groupInvitations.status, 'pending'),
          'inviteeId' in where
            ? eq(groupInvitations.inviteeId, where.inviteeId)
            : eq(groupInvitations.contactHash, where.contactHash),
        ),
      )
      .limit(1);
    return row;
  }

  async answerInvitation(
    tx: Executor,
    id: string,
    status: 'accepted' | 'rejected' | 'cancelled',
  ): Promise<InvitationRow> {
    const [row] = await tx
      .update(groupInvitations)
      .set({ status, respondedAt: sql`now()` })
      .where(eq(groupInvitations.id, id))
      .returning();
    return row!;
  }

  async listGroupInvitations(
    db: Executor,
    groupId: string,
    now: Date,
  ): Promise<(InvitationRow & { invitee: PersonCard | null; inviter: PersonCard })[]> {
    const invitee = sql<PersonCard | null>`(select json_build_object('id', u.id, 'nickname', u.nickname,
      'avatarUrl', u.avatar_url) from ${users} u where u.id = ${groupInvitations.inviteeId})`;
    const rows = await db
      .select({ i: groupInvitations, inviter: person, invitee })
      .from(groupInvitations)
      .innerJoin(users, eq(users.id, groupInvitations.inviterId))
      .where(
        and(
          eq(groupInvitations.groupId, groupId),
          eq(groupInvitations.status, 'pending'),
          gt(groupInvitations.expiresAt, now),
        ),
      )
      .orderBy(asc(groupInvitations.createdAt), asc(groupInvitations.id));
    return rows.map((r) => ({ ...r.i, inviter: r.inviter, invitee: r.invitee }));
  }

  async listInvitationsFor(db: Executor, inviteeId: string, now: Date): Promise<InvitationWithGroup[]> {
    const rows = await db
      .select({ i: groupInvitations, g: groups, inviter: person })
      .from(groupInvitations)
      .innerJoin(groups, eq(groups.id, groupInvitations.groupId))
      .innerJoin(users, eq(users.id, groupInvitations.inviterId))
      .where(
        and(
          eq(groupInvitations.inviteeId, inviteeId),
          eq(groupInvitations.status, 'pending'),
          gt(groupInvitations.expiresAt, now),
          live,
        ),
      )
      .orderBy(desc(groupInvitations.createdAt), asc(groupInvitations.id));
    return rows.map((r) => ({ ...r.i, group: r.g, inviter: r.inviter }));
  }

  /** Withdraws pending invitations and join requests: of a group, or of one person (in one group or all). */
  async closePending(tx: Executor, where: { groupId?: string; userId?: string }): Promise<void> {
    await tx
      .update(groupInvitations)
      .set({ status: 'cancelled', respondedAt: sql`now()` })
      .where(
        and(
          eq(groupInvitations.status, 'pending'),
          where.groupId ? eq(groupInvitations.groupId, where.groupId) : undefined,
          where.userId ? eq(groupInvitations.inviteeId, where.userId) : undefined,
        ),
      );
    await tx
      .update(groupJoinRequests)
      .set({ status: 'cancelled', decidedAt: sql`now()` })
      .where(
        and(
          eq(groupJoinRequests.status, 'pending'),
          where.groupId ? eq(groupJoinRequests.groupId, where.groupId) : undefined,
          where.userId ? eq(groupJoinRequests.userId, where.userId) : undefined,
        ),
      );
  }

  // invite links

  async insertLink(tx: Executor, values: typeof groupInviteLinks.$inferInsert): Promise<InviteLinkRow> {
    const [row] = await tx.insert(groupInviteLinks).values(values).returning();
    return row!;
  }

  async findLink(db: Executor, id: string): Promise<InviteLinkRow | undefined> {
    const [row] = await db.select().from(groupInviteLinks).where(eq(groupInviteLinks.id, id));
    return row;
  }

  async findLinkByHash(
    db: Executor,
    tokenHash: string,
    opts: { lock?: boolean } = {},
  ): Promise<InviteLinkRow | undefined> {
    const q = db.select().from(groupInviteLinks).where(eq(groupInviteLinks.tokenHash, tokenHash));
    const [row] = opts.lock ? await q.for('update') : await q;
    return row;
  }

  async useLink(tx: Executor, id: string): Promise<void> {
    await tx
      .update(groupInviteLinks)
      .set({ uses: sql`${groupInviteLinks.uses} + 1` })
      .where(eq(groupInviteLinks.id, id));
  }

  async revokeLinks(tx: Executor, where: { groupId: string; id?: string }): Promise<number> {
    const rows = await tx
      .update(groupInviteLinks)
      .set({ revokedAt: sql`now()` })
      .where(
        and(
          eq(groupInviteLinks.groupId, where.groupId),
          isNull(groupInviteLinks.revokedAt),
          where.id ? eq(groupInviteLinks.id, where.id) : undefined,
        ),
      )
      .returning({ id: groupInviteLinks.id });
    return rows.length;
  }

  async listLinks(db: Executor, groupId: string, now: Date): Promise<InviteLinkRow[]> {
    return db
      .select()
      .from(groupInviteLinks)
      .where(
        and(
          eq(groupInviteLinks.groupId, groupId),
          isNull(groupInviteLinks.revokedAt),
          gt(groupInviteLinks.expiresAt, now),
        ),
      )
      .orderBy(desc(groupInviteLinks.createdAt), asc(groupInviteLinks.id));
  }

  // people

  async isActiveUser(db: Executor, id: string): Promise<boolean> {
    const [row] = await db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)));
    return row !== undefined;
  }

  async people(db: Executor, ids: string[]): Promise<Map<string, PersonCard>> {
    if (ids.length === 0) return new Map();
    const rows = await db
      .select(person)
      .from(users)
      .where(inArray(users.id, [...new Set(ids)]));
    return new Map(rows.map((r) => [r.id, r]));
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
