import type { EventRow, InvitationRow, ParticipantRow } from './events.repository.js';

/**
 * Who may see and do what with an event, as pure functions of the event and what the viewer is to it. The
 * services load the viewer once per request and check these for every object they touch.
 */
export interface EventViewer {
  userId: string | null;
  participant: ParticipantRow | null;
  invitation: InvitationRow | null;
  /** The viewer's role in the event's group, when the event belongs to one. */
  groupRole: 'owner' | 'admin' | 'member' | null;
}

const ACTIVE = new Set(['going', 'waitlisted', 'pending']);

export const isHost = (event: EventRow, viewer: EventViewer): boolean =>
  viewer.userId !== null && event.hostId === viewer.userId;

export const isActiveParticipant = (viewer: EventViewer): boolean =>
  viewer.participant !== null && ACTIVE.has(viewer.participant.status);

/**
 * Public events are seen by everyone. A private event is seen by its host, the members of its group, people
 * taking part or invited, and those who took part in a standalone event and left; never by someone kicked or
 * rejected, nor by someone who left or was removed from the event's group.
 */
export function canView(event: EventRow, viewer: EventViewer): boolean {
  if (event.visibility === 'public') return true;
  if (viewer.userId === null) return false;
  if (isHost(event, viewer) || viewer.groupRole !== null || viewer.invitation !== null) return true;
  const status = viewer.participant?.status;
  if (status === 'going' || status === 'waitlisted' || status === 'pending') return true;
  // Those who took part and left keep sight of a standalone event; in a group, sight goes with membership (a
  // member who cancelled still sees it as a member; someone who left or was removed from the group does not).
  return status === 'cancelled' && event.groupId === null;
}

/** Without an invitation, a private event can be joined only by the members of its group. */
export function canJoinWithoutInvitation(event: EventRow, viewer: EventViewer): boolean {
  return event.visibility === 'public' || viewer.groupRole !== null;
}

/** Waitlist, pending applications, attendance and invitations are the host's business only. */
export const canManage = isHost;

/**
 * Editing and cancelling: the host, and for an event of a group also the group's owner and admins, who answer
 * for what happens in their group (members create events; the people running the group can correct or call
 * them off).
 */
export function canModerate(event: EventRow, viewer: EventViewer): boolean {
  if (isHost(event, viewer)) return true;
  return event.groupId !== null && (viewer.groupRole === 'owner' || viewer.groupRole === 'admin');
}

/** The going list is shown to whoever can see the event; the rest of the roster to the host only. */
export function visibleStatuses(event: EventRow, viewer: EventViewer): ParticipantRow['status'][] {
  return canManage(event, viewer) ? ['going', 'waitlisted', 'pending'] : ['going'];
}
