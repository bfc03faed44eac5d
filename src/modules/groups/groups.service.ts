import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import { enforceRateLimit, type RateLimiter } from '../../infra/rate-limit/rate-limiter.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { regionOf } from '../../shared/geo.js';
import type { Region } from '../../shared/regions.js';
import { GroupAccess, notFound, type LoadedGroup } from './group-access.js';
import { canListMembers, canManage, isOwner, outranks } from './groups.policy.js';
import type {
  BanRow,
  GroupRow,
  GroupsRepository,
  JoinRequestRow,
  MemberRow,
  MemberWithUser,
  MyGroup,
  NewGroup,
  PersonCard,
} from './groups.repository.js';
import type { GROUP_KINDS, GroupRole, JOIN_POLICIES } from './groups.schema.js';

export interface GroupInput {
  name: string;
  description?: string | null;
  kind?: (typeof GROUP_KINDS)[number];
  tags?: string[];
  region?: Region | null;
  lat?: number | null;
  lng?: number | null;
  visibility?: 'public' | 'private';
  joinPolicy?: (typeof JOIN_POLICIES)[number];
  memberCap?: number | null;
}

export type GroupPatch = Partial<GroupInput>;

export interface Deps {
  repo: GroupsRepository;
  db: Executor;
  clock: Clock;
  limiter: RateLimiter;
  unitOfWork: UnitOfWork;
  config: Config['groups'];
}

/**
 * Groups and their membership: creating, editing and deleting a group; joining (open, by request), leaving,
 * kicks and bans, roles and ownership. Every change to one group's members runs under a lock on the group row
 * and recounts the members in that transaction, so the cap holds under any concurrency.
 */
export class GroupsService {
  readonly access: GroupAccess;

  constructor(private readonly deps: Deps) {
    this.access = new GroupAccess(deps);
  }

  async create(actor: Actor, input: GroupInput & { displayName?: string | null }): Promise<LoadedGroup> {
    await enforceRateLimit(
      this.deps.limiter,
      { name: 'groups:create:day', limit: this.deps.config.createPerDay, windowMs: 86_400_000 },
      actor.userId,
    );
    const fields = this.fieldsOf(input);
    return this.deps.unitOfWork(async (ctx) => {
      const group = await this.deps.repo.insertGroup(ctx.tx, {
        ...fields,
        name: input.name.trim(),
        ownerId: actor.userId,
        memberCount: 1,
      });
      await this.deps.repo.insertMember(ctx.tx, {
        groupId: group.id,
        userId: actor.userId,
        role: 'owner',
        displayName: cleanName(input.displayName),
      });
      await ctx.publish('group.created', { groupId: group.id, ownerId: actor.userId }, actor.userId);
      return { group, viewer: await this.access.viewer(ctx.tx, group, actor.userId) };
    });
  }

  get(actor: Actor | null, groupId: string): Promise<LoadedGroup> {
    return this.access.load(this.deps.db, groupId, actor?.userId ?? null);
  }

  /** Owner and admins edit the group. The cap cannot drop below the members there are. */
  async update(actor: Actor, groupId: string, patch: GroupPatch): Promise<LoadedGroup> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
      const fields = this.fieldsOf(patch);
      const changed = (Object.keys(fields) as (keyof NewGroup)[]).filter(
        (k) => JSON.stringify(fields[k]) !== JSON.stringify(group[k]),
      );
      if (changed.length === 0) {
        return { group, viewer: await this.access.viewer(ctx.tx, group, actor.userId) };
      }
      const cap = fields.memberCap !== undefined ? fields.memberCap : group.memberCap;
      if (cap !== null && cap !== undefined && cap < group.memberCount) {
        throw new AppError(
          'MEMBER_CAP_BELOW_MEMBERS',
          `The group has ${group.memberCount} members already.`,
          {
            details: { members: group.memberCount },
          },
        );
      }
      const updated = await this.deps.repo.updateGroup(ctx.tx, group.id, fields);
      await ctx.publish(
        'group.updated',
        { groupId: group.id, fields: changed, visibility: updated.visibility },
        actor.userId,
      );
      return { group: updated, viewer: await this.access.viewer(ctx.tx, updated, actor.userId) };
    });
  }

  /**
   * The owner deletes the group: it disappears for everyone (404), pending invitations, requests and links are
   * withdrawn, and `group.deleted` lets events (cancelled) and chat (archived) follow.
   */
  async delete(actor: Actor, groupId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsOwner(ctx.tx, groupId, actor.userId, { lock: true });
      await this.deleteInTx(ctx, group, 'owner', actor.userId);
    });
  }

  private async deleteInTx(
    ctx: TxContext,
    group: GroupRow,
    reason: 'owner' | 'owner_deleted',
    actorId: string | null,
  ): Promise<void> {
    await this.deps.repo.updateGroup(ctx.tx, group.id, { deletedAt: this.deps.clock.now() });
    await this.deps.repo.closePending(ctx.tx, { groupId: group.id });
    await this.deps.repo.revokeLinks(ctx.tx, { groupId: group.id });
    await ctx.publish('group.deleted', { groupId: group.id, ownerId: group.ownerId, reason }, actorId);
  }

  async listPublic(
    filter: { q?: string; kind?: string; tag?: string; region?: string },
    cursor: string | undefined,
    limit: number,
  ): Promise<{ items: GroupRow[]; nextCursor: string | null }> {
    const after = cursor ? decodeCursor(cursor) : null;
    const rows = await this.deps.repo.listPublic(
      this.deps.db,
      filter,
      after && { at: after.t, id: after.id },
      limit + 1,
    );
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(last.cursorAt, last.id) : null,
    };
  }

  myGroups(actor: Actor): Promise<MyGroup[]> {
    return this.deps.repo.myGroups(this.deps.db, actor.userId);
  }

  async owner(group: GroupRow): Promise<PersonCard> {
    const people = await this.deps.repo.people(this.deps.db, [group.ownerId]);
    return people.get(group.ownerId) ?? { id: group.ownerId, nickname: '', avatarUrl: null };
  }

  /** The members of a public group for anyone; of a private group for its members only (404 otherwise). */
  async members(
    actor: Actor | null,
    groupId: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<{ items: MemberWithUser[]; nextCursor: string | null }> {
    const { group, viewer } = await this.access.load(this.deps.db, groupId, actor?.userId ?? null);
    if (!canListMembers(group, viewer)) throw notFound();
    const after = cursor ? decodeCursor(cursor) : null;
    const rows = await this.deps.repo.listMembers(
      this.deps.db,
      group.id,
      after && { at: after.t, userId: after.id },
      limit + 1,
    );
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(last.cursorAt, last.userId) : null,
    };
  }

  // joining and leaving

  /**
   * Joins a group. A pending invitation is accepted; otherwise an open group takes the person at once (while
   * under its cap), an approval group files a request for its admins, and an invite-only group refuses.
   */
  async join(
    actor: Actor,
    groupId: string,
    input: { message?: string | null; displayName?: string | null },
  ): Promise<{ status: 'member'; member: MemberRow } | { status: 'requested'; request: JoinRequestRow }> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group, viewer } = await this.access.load(ctx.tx, groupId, actor.userId, { lock: true });
      if (viewer.member) throw alreadyMember();
      if (viewer.banned) throw banned();
      if (viewer.invitation) {
        const member = await this.admit(ctx, group, actor.userId, input.displayName, 'invitation');
        await this.deps.repo.answerInvitation(ctx.tx, viewer.invitation.id, 'accepted');
        await ctx.publish(
          'group.invitation_answered',
          { groupId: group.id, invitationId: viewer.invitation.id, inviteeId: actor.userId, accepted: true },
          actor.userId,
        );
        return { status: 'member' as const, member };
      }
      if (group.joinPolicy === 'invite_only') {
        throw new AppError('INVITATION_REQUIRED', 'This group takes members by invitation only.');
      }
      if (group.joinPolicy === 'approval') {
        if (viewer.request) {
          throw new AppError('JOIN_REQUEST_PENDING', 'Your request to join is waiting for the admins.');
        }
        const request = await this.deps.repo.insertRequest(ctx.tx, {
          groupId: group.id,
          userId: actor.userId,
          message: input.message?.trim() || null,
        });
        await ctx.publish(
          'group.join_requested',
          { groupId: group.id, requestId: request.id, userId: actor.userId },
          actor.userId,
        );
        return { status: 'requested' as const, request };
      }
      const member = await this.admit(ctx, group, actor.userId, input.displayName, 'open');
      return { status: 'member' as const, member };
    });
  }

  /** Withdraws one's own pending request to join. */
  async cancelRequest(actor: Actor, groupId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group, viewer } = await this.access.load(ctx.tx, groupId, actor.userId);
      if (!viewer.request) {
        throw new AppError('JOIN_REQUEST_NOT_PENDING', 'You have no pending request to join this group.');
      }
      await this.deps.repo.decideRequest(ctx.tx, viewer.request.id, 'cancelled', null);
      await ctx.publish(
        'group.join_request_cancelled',
        { groupId: group.id, requestId: viewer.request.id, userId: actor.userId },
        actor.userId,
      );
    });
  }

  async requests(actor: Actor, groupId: string) {
    const { group } = await this.access.loadAsManager(this.deps.db, groupId, actor.userId);
    return this.deps.repo.listRequests(this.deps.db, group.id);
  }

  /** Owner and admins approve (while under the cap, and never a banned person) or reject a request. */
  async decide(actor: Actor, groupId: string, userId: string, approve: boolean): Promise<JoinRequestRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
      const request = await this.deps.repo.pendingRequest(ctx.tx, group.id, userId);
      if (!request) {
        throw new AppError('JOIN_REQUEST_NOT_PENDING', 'There is no pending request from this person.');
      }
      if (approve) await this.admit(ctx, group, userId, null, 'request');
      const decided = await this.deps.repo.decideRequest(
        ctx.tx,
        request.id,
        approve ? 'approved' : 'rejected',
        actor.userId,
      );
      await ctx.publish(
        'group.join_decided',
        { groupId: group.id, requestId: request.id, userId, approved: approve, byId: actor.userId },
        actor.userId,
      );
      return decided;
    });
  }

  /** The owner hands over first; everyone else leaves when they like. */
  async leave(actor: Actor, groupId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group, member } = await this.access.loadAsMember(ctx.tx, groupId, actor.userId, { lock: true });
      if (member.role === 'owner') {
        throw new AppError('OWNER_MUST_TRANSFER', 'Hand the group over to another member before leaving.');
      }
      await this.deps.repo.deleteMember(ctx.tx, group.id, actor.userId);
      await this.deps.repo.refreshCount(ctx.tx, group.id);
      await ctx.publish(
        'group.member_left',
        { groupId: group.id, userId: actor.userId, reason: 'left' },
        actor.userId,
      );
    });
  }

  /** Owner and admins remove a member of lower rank; they may come back by the usual ways. */
  async kick(actor: Actor, groupId: string, userId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group, member } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, {
        lock: true,
      });
      const target = await this.targetMember(ctx.tx, group.id, userId);
      this.assertOutranks(member.role, target.role);
      await this.removeMember(ctx, group, userId, 'kicked', actor.userId);
    });
  }

  /**
   * Bans a person (a member of lower rank, or anyone not in the group): they are removed, their pending
   * invitation and request are withdrawn, and they cannot join, be invited or use a link until unbanned.
   */
  async ban(actor: Actor, groupId: string, userId: string, reason: string | null): Promise<BanRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group, member } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, {
        lock: true,
      });
      if (userId === actor.userId) throw new AppError('FORBIDDEN', 'You cannot ban yourself.');
      if (!(await this.deps.repo.isActiveUser(ctx.tx, userId)))
        throw new AppError('NOT_FOUND', 'No such user.');
      const target = await this.deps.repo.findMember(ctx.tx, group.id, userId);
      if (target) this.assertOutranks(member.role, target.role);
      const ban = await this.deps.repo.insertBan(ctx.tx, {
        groupId: group.id,
        userId,
        bannedBy: actor.userId,
        reason: reason?.trim() || null,
      });
      if (!ban) throw new AppError('ALREADY_BANNED', 'This person is already banned from the group.');
      await this.deps.repo.closePending(ctx.tx, { groupId: group.id, userId });
      if (target) await this.removeMember(ctx, group, userId, 'banned', actor.userId);
      await ctx.publish('group.banned', { groupId: group.id, userId, byId: actor.userId }, actor.userId);
      return ban;
    });
  }

  async unban(actor: Actor, groupId: string, userId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
      if (!(await this.deps.repo.deleteBan(ctx.tx, group.id, userId))) {
        throw new AppError('NOT_BANNED', 'This person is not banned from the group.');
      }
      await ctx.publish('group.unbanned', { groupId: group.id, userId, byId: actor.userId }, actor.userId);
    });
  }

  async bans(actor: Actor, groupId: string) {
    const { group } = await this.access.loadAsManager(this.deps.db, groupId, actor.userId);
    return this.deps.repo.listBans(this.deps.db, group.id);
  }

  /**
   * Changes a member: their display name (themselves, or the owner and admins for lower ranks) and their role
   * (the owner only, between admin and member; ownership moves by transfer).
   */
  async updateMember(
    actor: Actor,
    groupId: string,
    userId: string,
    patch: { displayName?: string | null; role?: 'admin' | 'member' },
  ): Promise<MemberRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group, viewer, member } = await this.access.loadAsMember(ctx.tx, groupId, actor.userId, {
        lock: true,
      });
      let target = await this.targetMember(ctx.tx, group.id, userId);
      if (patch.role !== undefined && patch.role !== target.role) {
        if (!isOwner(viewer)) throw new AppError('FORBIDDEN', 'Only the owner changes roles.');
        if (target.role === 'owner') {
          throw new AppError('FORBIDDEN', 'The owner hands the group over by transferring ownership.');
        }
        const from = target.role;
        target = await this.deps.repo.setMember(ctx.tx, group.id, userId, { role: patch.role });
        await ctx.publish(
          'group.role_changed',
          { groupId: group.id, userId, from, to: patch.role },
          actor.userId,
        );
      }
      if (patch.displayName !== undefined) {
        const self = userId === actor.userId;
        if (!self && !(canManage(viewer) && outranks(member.role, target.role))) {
          throw new AppError('FORBIDDEN', 'You may change your own display name only.');
        }
        const name = cleanName(patch.displayName);
        if (name !== target.displayName) {
          if (name && (await this.deps.repo.displayNameTaken(ctx.tx, group.id, name, userId))) {
            throw displayNameTaken();
          }
          target = await this.deps.repo.setMember(ctx.tx, group.id, userId, { displayName: name });
          await ctx.publish(
            'group.member_renamed',
            { groupId: group.id, userId, displayName: name },
            actor.userId,
          );
        }
      }
      return target;
    });
  }

  /** The owner hands the group to another member, and stays on as an admin. */
  async transfer(actor: Actor, groupId: string, userId: string): Promise<LoadedGroup> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsOwner(ctx.tx, groupId, actor.userId, { lock: true });
      if (userId === actor.userId) throw new AppError('CONFLICT', 'You own this group already.');
      await this.targetMember(ctx.tx, group.id, userId);
      const updated = await this.transferInTx(ctx, group, userId, actor.userId);
      return { group: updated, viewer: await this.access.viewer(ctx.tx, updated, actor.userId) };
    });
  }

  private async transferInTx(
    ctx: TxContext,
    group: GroupRow,
    to: string,
    actorId: string | null,
  ): Promise<GroupRow> {
    const from = group.ownerId;
    const before = await this.deps.repo.findMember(ctx.tx, group.id, to);
    // Demote first: the one-owner-per-group index must never see two.
    await this.deps.repo.setMember(ctx.tx, group.id, from, { role: 'admin' });
    await this.deps.repo.setMember(ctx.tx, group.id, to, { role: 'owner' });
    const updated = await this.deps.repo.updateGroup(ctx.tx, group.id, { ownerId: to });
    await ctx.publish('group.ownership_transferred', { groupId: group.id, from, to }, actorId);
    await ctx.publish(
      'group.role_changed',
      { groupId: group.id, userId: from, from: 'owner', to: 'admin' },
      actorId,
    );
    await ctx.publish(
      'group.role_changed',
      { groupId: group.id, userId: to, from: before?.role ?? 'member', to: 'owner' },
      actorId,
    );
    return updated;
  }

  /**
   * A deleted account owns nothing and belongs nowhere: each group it owns goes to its longest-standing admin,
   * else its longest-standing member, else is deleted; then it leaves every group, and its pending invitations
   * and requests are withdrawn.
   */
  async onUserDeleted(ctx: TxContext, userId: string): Promise<void> {
    for (const groupId of await this.deps.repo.ownedGroupIds(ctx.tx, userId)) {
      const group = await this.deps.repo.lockGroup(ctx.tx, groupId);
      if (!group || group.ownerId !== userId) continue;
      const next = await this.deps.repo.successor(ctx.tx, group.id, userId);
      if (next) await this.transferInTx(ctx, group, next.userId, null);
      else await this.deleteInTx(ctx, group, 'owner_deleted', null);
    }
    for (const groupId of await this.deps.repo.membershipGroupIds(ctx.tx, userId)) {
      const group = await this.deps.repo.lockGroup(ctx.tx, groupId);
      if (!group || !(await this.deps.repo.deleteMember(ctx.tx, group.id, userId))) continue;
      await this.deps.repo.refreshCount(ctx.tx, group.id);
      await ctx.publish('group.member_left', { groupId, userId, reason: 'account_deleted' }, null);
    }
    await this.deps.repo.closePending(ctx.tx, { userId });
  }

  /**
   * Adds a person to a group whose row the caller holds locked: refused when banned, already in, or the group
   * is at its cap. Used by every way in (open join, approved request, invitation, link).
   */
  async admit(
    ctx: TxContext,
    group: GroupRow,
    userId: string,
    displayName: string | null | undefined,
    via: 'open' | 'request' | 'invitation' | 'link',
  ): Promise<MemberRow> {
    const { repo } = this.deps;
    if (await repo.findBan(ctx.tx, group.id, userId)) throw banned();
    if (await repo.findMember(ctx.tx, group.id, userId)) throw alreadyMember();
    if (group.memberCap !== null && group.memberCount >= group.memberCap) {
      throw new AppError('GROUP_FULL', 'The group is full.', {
        details: { memberCap: group.memberCap, members: group.memberCount },
      });
    }
    const name = cleanName(displayName);
    if (name && (await repo.displayNameTaken(ctx.tx, group.id, name, userId))) throw displayNameTaken();
    const member = await repo.insertMember(ctx.tx, {
      groupId: group.id,
      userId,
      role: 'member',
      displayName: name,
    });
    const counted = await repo.refreshCount(ctx.tx, group.id);
    // Later admissions in the same transaction see the new count.
    group.memberCount = counted.memberCount;
    const request = await repo.pendingRequest(ctx.tx, group.id, userId);
    if (request && via !== 'request') await repo.decideRequest(ctx.tx, request.id, 'cancelled', null);
    await ctx.publish('group.member_joined', { groupId: group.id, userId, role: 'member', via }, userId);
    return member;
  }

  private async removeMember(
    ctx: TxContext,
    group: GroupRow,
    userId: string,
    reason: 'kicked' | 'banned',
    byId: string,
  ): Promise<void> {
    await this.deps.repo.deleteMember(ctx.tx, group.id, userId);
    await this.deps.repo.refreshCount(ctx.tx, group.id);
    await ctx.publish('group.member_removed', { groupId: group.id, userId, byId, reason }, byId);
  }

  private async targetMember(exec: Executor, groupId: string, userId: string): Promise<MemberRow> {
    const target = await this.deps.repo.findMember(exec, groupId, userId);
    if (!target) throw new AppError('NOT_FOUND', 'No such member.');
    return target;
  }

  private assertOutranks(actor: GroupRole, target: GroupRole): void {
    if (!outranks(actor, target)) {
      throw new AppError('FORBIDDEN', 'You can act only on members of a lower rank.');
    }
  }

  /** Request fields to columns: clean tags, a region derived from the point unless given. */
  private fieldsOf(input: GroupPatch): Partial<NewGroup> {
    const out: Partial<NewGroup> = {};
    const set = <K extends keyof NewGroup>(key: K, value: NewGroup[K] | undefined) => {
      if (value !== undefined) out[key] = value;
    };
    set('name', input.name?.trim());
    set('description', input.description);
    set('kind', input.kind);
    set('visibility', input.visibility);
    set('joinPolicy', input.joinPolicy);
    set('memberCap', input.memberCap);
    if (input.tags) {
      set('tags', [...new Set(input.tags.map((t) => t.trim().toLowerCase()).filter(Boolean))]);
    }
    if (input.lat !== undefined || input.lng !== undefined) {
      const lat = input.lat ?? null;
      const lng = input.lng ?? null;
      if ((lat === null) !== (lng === null)) {
        throw new AppError('VALIDATION_FAILED', 'The request is not valid.', {
          details: [{ path: '/body/lat', message: 'give both lat and lng, or neither' }],
        });
      }
      out.lat = lat;
      out.lng = lng;
      if (input.region === undefined)
        out.region = lat !== null && lng !== null ? regionOf({ lat, lng }) : null;
    }
    set('region', input.region);
    return out;
  }
}

const alreadyMember = () => new AppError('ALREADY_MEMBER', 'You are a member of this group already.');
const banned = () => new AppError('BANNED_FROM_GROUP', 'This person is banned from the group.');
const displayNameTaken = () =>
  new AppError('DISPLAY_NAME_TAKEN', 'Another member of the group goes by this name.');

function cleanName(name: string | null | undefined): string | null {
  const trimmed = name?.trim();
  return trimmed ? trimmed : null;
}

function encodeCursor(t: string, id: string): string {
  return Buffer.from(JSON.stringify({ t, id })).toString('base64url');
}

/** A timestamp as PostgreSQL prints it (`2026-11-30 07:47:41.123456+00`), nothing else reaches the SQL. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

function decodeCursor(cursor: string): { t: string; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      t?: unknown;
      id?: unknown;
    };
    if (
      typeof parsed.t === 'string' &&
      PG_TIMESTAMP.test(parsed.t) &&
      typeof parsed.id === 'string' &&
      /^[0-9a-f-]{36}$/i.test(parsed.id)
    ) {
      return { t: parsed.t, id: parsed.id };
    }
  } catch {
    // falls through to the validation error
  }
  throw new AppError('VALIDATION_FAILED', 'The request is not valid.', {
    details: [{ path: '/query/cursor', message: 'not a cursor from a previous page' }],
  });
}
