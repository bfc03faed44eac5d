/**
 * The one table of domain events: every change other modules (notifications, realtime, reminders, badges) may
 * react to. Producers write them to the outbox inside their transaction; the relay delivers them after commit.
 * Payloads carry ids and the few fields consumers need, never secrets.
 */
export interface DomainEvents {
  /** Published by nothing in production: a topic tests (and operators, by hand) use to probe the relay. */
  'system.probe': { note: string };

  // accounts
  'user.registered': { userId: string; method: string };
  /** A session ended (logout, revocation, token reuse, password change...): its sockets must go. */
  'session.revoked': { sessionId: string; userId: string; reason: string };
  /** Soft-deleted; restorable until `purgeAfter`. Hosted groups and events are handed over or closed. */
  'user.deleted': { userId: string; purgeAfter: string };
  'user.restored': { userId: string };
  /** Personal data erased; authored content stays, shown as from a deleted user. */
  'user.purged': { userId: string };

  // groups: ids only; a contact invitation (phone, email) names its invitee only when one was found.
  'group.created': { groupId: string; ownerId: string };
  'group.updated': { groupId: string; fields: string[]; visibility: 'public' | 'private' };
  'group.deleted': { groupId: string; ownerId: string; reason: 'owner' | 'owner_deleted' };
  'group.member_joined': {
    groupId: string;
    userId: string;
    role: 'owner' | 'admin' | 'member';
    via: 'open' | 'request' | 'invitation' | 'link';
  };
  'group.member_left': { groupId: string; userId: string; reason: 'left' | 'account_deleted' };
  'group.member_removed': { groupId: string; userId: string; byId: string; reason: 'kicked' | 'banned' };
  'group.member_renamed': { groupId: string; userId: string; displayName: string | null };
  'group.role_changed': {
    groupId: string;
    userId: string;
    from: 'owner' | 'admin' | 'member';
    to: 'owner' | 'admin' | 'member';
  };
  'group.ownership_transferred': { groupId: string; from: string; to: string };
  'group.banned': { groupId: string; userId: string; byId: string };
  'group.unbanned': { groupId: string; userId: string; byId: string };
  'group.invited': { groupId: string; invitationId: string; inviteeId: string; inviterId: string };
  'group.invitation_answered': {
    groupId: string;
    invitationId: string;
    inviteeId: string;
    accepted: boolean;
  };
  'group.invitation_cancelled': { groupId: string; invitationId: string; inviteeId: string | null };
  'group.join_requested': { groupId: string; requestId: string; userId: string };
  'group.join_request_cancelled': { groupId: string; requestId: string; userId: string };
  'group.join_decided': {
    groupId: string;
    requestId: string;
    userId: string;
    approved: boolean;
    byId: string;
  };
  'group.invite_link_created': { groupId: string; linkId: string; byId: string };
  'group.invite_link_revoked': { groupId: string; linkId: string; byId: string };

  // events: who was affected is in the payload; consumers read the rest (titles, recipients) themselves.
  'event.created': { eventId: string; groupId: string | null; hostId: string };
  'event.updated': { eventId: string; fields: string[] };
  'event.cancelled': {
    eventId: string;
    reason: 'host' | 'group_deleted' | 'host_deleted' | 'host_left_group';
  };
  'event.host_changed': { eventId: string; from: string; to: string };
  'event.joined': { eventId: string; userId: string; status: 'going' | 'waitlisted' | 'pending' };
  /**
   * Out of the event without a host's decision about them: they cancelled, left the group of a members-only
   * event, were banned from the event's group, deleted their account, or were on the waitlist when the roster
   * was locked.
   */
  'event.left': {
    eventId: string;
    userId: string;
    reason: 'cancelled' | 'left_group' | 'banned_from_group' | 'account_deleted' | 'roster_locked';
  };
  'event.kicked': { eventId: string; userId: string };
  'event.promoted': { eventId: string; userId: string };
  'event.application_decided': {
    eventId: string;
    userId: string;
    approved: boolean;
    status: 'going' | 'waitlisted' | 'rejected';
    /** `roster_locked`: still pending when the host locked the roster, so declined with the lock. */
    reason: 'host' | 'roster_locked';
  };
  'event.invited': { eventId: string; invitationId: string; inviteeId: string; inviterId: string };
  /** A pending invitation withdrawn: by the host, by the roster lock, or because the invitee was banned. */
  'event.invitation_cancelled': {
    eventId: string;
    invitationId: string;
    inviteeId: string;
    reason: 'host' | 'roster_locked' | 'banned_from_group';
  };
  'event.invitation_answered': {
    eventId: string;
    invitationId: string;
    inviteeId: string;
    accepted: boolean;
  };
  'event.locked': { eventId: string };
  'event.starting_soon': { eventId: string; startsAt: string };
  'event.ended': { eventId: string };
  'event.attendance_marked': { eventId: string; userId: string; present: boolean; by: 'host' | 'self' };
  'event.rated': { eventId: string; raterId: string; rateeId: string; verdict: 'good' | 'bad' };

  // chat: one per message, for notifying members who are offline.
  'chat.message_sent': { conversationId: string; messageId: string; seq: number; senderId: string };
}

export type DomainTopic = keyof DomainEvents;

export interface DomainEvent<K extends DomainTopic = DomainTopic> {
  id: number;
  topic: K;
  payload: DomainEvents[K];
  actorId: string | null;
  createdAt: Date;
}
