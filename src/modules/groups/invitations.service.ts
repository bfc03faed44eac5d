import { randomToken, sha256 } from '../../infra/crypto.js';
import { readAll } from '../../infra/db/database.js';
import { enforceRateLimit } from '../../infra/rate-limit/rate-limiter.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import type { GroupAccess } from './group-access.js';
import type {
  GroupRow,
  InvitationRow,
  InvitationWithGroup,
  InviteLinkRow,
  MemberRow,
  PersonCard,
} from './groups.repository.js';
import type { Deps, GroupsService } from './groups.service.js';

const INVITATION_TTL_MS = 14 * 86_400_000;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Finds the account behind a phone number or an email address; provided by the accounts module. */
export interface ContactDirectory {
  /**
   * A keyed hash of the normalized contact (to refuse the same invitation twice), a masked form for the inviter
   * to recognise it by, and the live account holding it, if any. Throws `PHONE_INVALID` for a malformed number.
   */
  resolve(contact: { phone: string } | { email: string }): Promise<{
    hash: string;
    hint: string;
    userId: string | null;
  }>;
}

export type InvitationTarget = { userId: string } | { phone: string } | { email: string };

/**
 * Invitations (to a person by id, or by phone or email to whoever holds it) and shareable invite links. Both
 * bring a person in past the join policy, but never past a ban or the member cap.
 */
export class InvitationsService {
  private readonly access: GroupAccess;

  constructor(private readonly deps: Deps & { groups: GroupsService; contacts: ContactDirectory }) {
    this.access = deps.groups.access;
  }

  /**
   * Owner and admins invite. By user id the answer says what went wrong (already a member, banned, already
   * invited). By phone or email the answer is the same whether or not anyone holds the contact, and whatever
   * they are to the group: the inviter learns nothing about who has which number; the holder, if any and if
   * they may be invited, finds the invitation in their list. Contact look-ups are rate-limited per inviter.
   */
  async invite(
    actor: Actor,
    groupId: string,
    target: InvitationTarget,
  ): Promise<{ invitation: InvitationRow & { invitee?: PersonCard | null }; byContact: boolean }> {
    if (!('userId' in target)) {
      // Who may invite is settled before anything is looked up or counted.
      await this.access.loadAsManager(this.deps.db, groupId, actor.userId);
      await enforceRateLimit(
        this.deps.limiter,
        { name: 'groups:invite:contact', limit: this.deps.config.contactInvitesPerHour, windowMs: 3_600_000 },
        actor.userId,
      );
      // Resolved outside the transaction: normalizing a number and hashing it need no lock.
      const contact = await this.deps.contacts.resolve(target);
      return this.deps.unitOfWork(async (ctx) => {
        const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
        const existing = await this.deps.repo.anyPending(ctx.tx, group.id, { contactHash: contact.hash });
        if (existing && existing.expiresAt > this.deps.clock.now()) {
          return { invitation: existing, byContact: true };
        }
        if (existing) await this.deps.repo.answerInvitation(ctx.tx, existing.id, 'cancelled');
        const invitee = (await this.invitable(ctx.tx, group, contact.userId)) ? contact.userId : null;
        const invitation = await this.deps.repo.insertInvitation(ctx.tx, {
          groupId: group.id,
          inviterId: actor.userId,
          inviteeId: invitee,
          via: 'phone' in target ? 'phone' : 'email',
          contactHash: contact.hash,
          contactHint: contact.hint,
          expiresAt: new Date(this.deps.clock.now().getTime() + INVITATION_TTL_MS),
        });
        if (invitee) {
          await ctx.publish(
            'group.invited',
            { groupId: group.id, invitationId: invitation.id, inviteeId: invitee, inviterId: actor.userId },
            actor.userId,
          );
        }
        return { invitation, byContact: true };
      });
    }

    return this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
      const { userId } = target;
      if (!(await this.deps.repo.isActiveUser(ctx.tx, userId)))
        throw new AppError('NOT_FOUND', 'No such user.');
      if (await this.deps.repo.findMember(ctx.tx, group.id, userId)) {
        throw new AppError('ALREADY_MEMBER', 'This person is a member already.');
      }
      if (await this.deps.repo.findBan(ctx.tx, group.id, userId)) {
        throw new AppError('BANNED_FROM_GROUP', 'This person is banned from the group; unban them first.');
      }
      const existing = await this.deps.repo.anyPending(ctx.tx, group.id, { inviteeId: userId });
      if (existing && existing.expiresAt > this.deps.clock.now()) {
        throw new AppError('ALREADY_INVITED', 'This person is already invited.');
      }
      if (existing) await this.deps.repo.answerInvitation(ctx.tx, existing.id, 'cancelled');
      const invitation = await this.deps.repo.insertInvitation(ctx.tx, {
        groupId: group.id,
        inviterId: actor.userId,
        inviteeId: userId,
        via: 'user',
        expiresAt: new Date(this.deps.clock.now().getTime() + INVITATION_TTL_MS),
      });
      await ctx.publish(
        'group.invited',
        { groupId: group.id, invitationId: invitation.id, inviteeId: userId, inviterId: actor.userId },
        actor.userId,
      );
      const invitee = (await this.deps.repo.people(ctx.tx, [userId])).get(userId) ?? null;
      return { invitation: { ...invitation, invitee }, byContact: false };
    });
  }

  /**
   * Someone who may receive an invitation: a live account, not in the group, not banned, not invited yet. The
   * same queries run whether or not the contact matched anyone (a nil id stands in), so the time an answer takes
   * does not tell the inviter either.
   */
  private async invitable(exec: Deps['db'], group: GroupRow, userId: string | null): Promise<boolean> {
    const { repo } = this.deps;
    const id = userId ?? NIL_UUID;
    const [active, member, ban, pending] = await readAll(
      exec,
      () => repo.isActiveUser(exec, id),
      () => repo.findMember(exec, group.id, id),
      () => repo.findBan(exec, group.id, id),
      () => repo.anyPending(exec, group.id, { inviteeId: id }),
    );
    return (
      userId !== null && active && !member && !ban && (!pending || pending.expiresAt <= this.deps.clock.now())
    );
  }

  async groupInvitations(actor: Actor, groupId: string) {
    const { group } = await this.access.loadAsManager(this.deps.db, groupId, actor.userId);
    return this.deps.repo.listGroupInvitations(this.deps.db, group.id, this.deps.clock.now());
  }

  async cancel(actor: Actor, groupId: string, invitationId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId, { lock: true });
      const invitation = await this.deps.repo.findInvitation(ctx.tx, invitationId);
      if (!invitation || invitation.groupId !== group.id) {
        throw new AppError('NOT_FOUND', 'No such invitation.');
      }
      if (invitation.status !== 'pending') {
        throw new AppError('INVITATION_NOT_PENDING', 'The invitation was already answered or withdrawn.');
      }
      await this.deps.repo.answerInvitation(ctx.tx, invitation.id, 'cancelled');
      await ctx.publish(
        'group.invitation_cancelled',
        { groupId: group.id, invitationId: invitation.id, inviteeId: invitation.inviteeId },
        actor.userId,
      );
    });
  }

  myInvitations(actor: Actor): Promise<InvitationWithGroup[]> {
    return this.deps.repo.listInvitationsFor(this.deps.db, actor.userId, this.deps.clock.now());
  }

  /** The invitee accepts (joining past the join policy, within the cap) or declines. */
  async answer(
    actor: Actor,
    invitationId: string,
    accept: boolean,
    input: { displayName?: string | null } = {},
  ): Promise<MemberRow | null> {
    return this.deps.unitOfWork(async (ctx) => {
      const found = await this.deps.repo.findInvitation(ctx.tx, invitationId);
      if (!found || found.inviteeId !== actor.userId) throw new AppError('NOT_FOUND', 'No such invitation.');
      const group = await this.deps.repo.lockGroup(ctx.tx, found.groupId);
      if (!group) throw new AppError('NOT_FOUND', 'No such invitation.');
      // Read again under the group lock: a concurrent answer or withdrawal went first.
      const invitation = (await this.deps.repo.findInvitation(ctx.tx, invitationId))!;
      if (invitation.status !== 'pending' || invitation.expiresAt <= this.deps.clock.now()) {
        throw new AppError(
          'INVITATION_NOT_PENDING',
          'The invitation was answered, withdrawn or has expired.',
        );
      }
      let member: MemberRow | null = null;
      if (accept)
        member = await this.deps.groups.admit(ctx, group, actor.userId, input.displayName, 'invitation');
      await this.deps.repo.answerInvitation(ctx.tx, invitation.id, accept ? 'accepted' : 'rejected');
      await ctx.publish(
        'group.invitation_answered',
        { groupId: group.id, invitationId: invitation.id, inviteeId: actor.userId, accepted: accept },
        actor.userId,
      );
      return member;
    });
  }

  // invite links

  /** Owner and admins make a link; its secret is shown once, in this answer, and stored only as a hash. */
  async createLink(
    actor: Actor,
    groupId: string,
    input: { expiresInHours?: number; maxUses?: number | null },
  ): Promise<{ link: InviteLinkRow; token: string }> {
    return this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId);
      const token = randomToken(24);
      const hours = input.expiresInHours ?? this.deps.config.inviteLinkHours;
      const link = await this.deps.repo.insertLink(ctx.tx, {
        groupId: group.id,
        createdBy: actor.userId,
        tokenHash: sha256(token),
        expiresAt: new Date(this.deps.clock.now().getTime() + hours * 3_600_000),
        maxUses: input.maxUses ?? null,
      });
      await ctx.publish(
        'group.invite_link_created',
        { groupId: group.id, linkId: link.id, byId: actor.userId },
        actor.userId,
      );
      return { link, token };
    });
  }

  async links(actor: Actor, groupId: string): Promise<InviteLinkRow[]> {
    const { group } = await this.access.loadAsManager(this.deps.db, groupId, actor.userId);
    return this.deps.repo.listLinks(this.deps.db, group.id, this.deps.clock.now());
  }

  async revokeLink(actor: Actor, groupId: string, linkId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { group } = await this.access.loadAsManager(ctx.tx, groupId, actor.userId);
      if ((await this.deps.repo.revokeLinks(ctx.tx, { groupId: group.id, id: linkId })) === 0) {
        throw new AppError('NOT_FOUND', 'No such invite link.');
      }
      await ctx.publish(
        'group.invite_link_revoked',
        { groupId: group.id, linkId, byId: actor.userId },
        actor.userId,
      );
    });
  }

  /** What a link leads to, for its holder to decide: the same 404 for unknown, expired, used-up or revoked. */
  async preview(token: string): Promise<GroupRow> {
    const link = await this.deps.repo.findLinkByHash(this.deps.db, sha256(token));
    const group = link && this.usable(link) && (await this.deps.repo.findGroup(this.deps.db, link.groupId));
    if (!group) throw invalidLink();
    return group;
  }

  /** Joins by link: past the join policy and a private group's walls, never past a ban or the cap. */
  async joinByLink(actor: Actor, token: string, input: { displayName?: string | null }) {
    return this.deps.unitOfWork(async (ctx) => {
      const found = await this.deps.repo.findLinkByHash(ctx.tx, sha256(token));
      if (!found) throw invalidLink();
      // Group first, then link: the same lock order as everything else that touches the group.
      const group = await this.deps.repo.lockGroup(ctx.tx, found.groupId);
      const link = await this.deps.repo.findLinkByHash(ctx.tx, sha256(token), { lock: true });
      if (!group || !link || !this.usable(link)) throw invalidLink();
      const member = await this.deps.groups.admit(ctx, group, actor.userId, input.displayName, 'link');
      await this.deps.repo.useLink(ctx.tx, link.id);
      const invitation = await this.deps.repo.anyPending(ctx.tx, group.id, { inviteeId: actor.userId });
      if (invitation) await this.deps.repo.answerInvitation(ctx.tx, invitation.id, 'accepted');
      return { group, member };
    });
  }

  private usable(link: InviteLinkRow): boolean {
    return (
      link.revokedAt === null &&
      link.expiresAt > this.deps.clock.now() &&
      (link.maxUses === null || link.uses < link.maxUses)
    );
  }
}

const invalidLink = () =>
  new AppError('INVITE_LINK_INVALID', 'This invite link is not valid: unknown, expired, used up or revoked.');
