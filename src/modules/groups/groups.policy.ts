import type { GroupRole } from './groups.schema.js';
import type { GroupRow, InvitationRow, JoinRequestRow, MemberRow } from './groups.repository.js';

/**
 * Who may see and do what in a group, as pure functions of the group and what the caller is to it. The services
 * load the viewer once per request and check these for every object they touch.
 */
export interface GroupViewer {
  userId: string | null;
  member: MemberRow | null;
  banned: boolean;
  /** A pending, unexpired invitation addressed to the viewer. */
  invitation: InvitationRow | null;
  request: JoinRequestRow | null;
}

const RANK: Record<GroupRole, number> = { owner: 3, admin: 2, member: 1 };

export const roleOf = (viewer: GroupViewer): GroupRole | null => viewer.member?.role ?? null;

/** A public group is seen by everyone; a private one by its members and by people invited to it. */
export function canSee(group: GroupRow, viewer: GroupViewer): boolean {
  if (group.visibility === 'public') return true;
  return viewer.member !== null || viewer.invitation !== null;
}

/**
 * The whole group (description, place, owner, tags) for public groups and members; someone holding an
 * invitation to a private group sees only what they need to decide (name, kind, member count).
 */
export const seesAll = (group: GroupRow, viewer: GroupViewer): boolean =>
  group.visibility === 'public' || viewer.member !== null;

/** The member list of a public group is public; a private group's is for its members. */
export const canListMembers = (group: GroupRow, viewer: GroupViewer): boolean =>
  group.visibility === 'public' || viewer.member !== null;

/** Owner and admins run the group: settings, requests, invitations, links, kicks and bans. */
export const canManage = (viewer: GroupViewer): boolean => {
  const role = roleOf(viewer);
  return role === 'owner' || role === 'admin';
};

export const isOwner = (viewer: GroupViewer): boolean => roleOf(viewer) === 'owner';

/** Kicks, bans and renaming others go down the ranks only: admins act on members, the owner on everyone. */
export const outranks = (actor: GroupRole, target: GroupRole): boolean => RANK[actor] > RANK[target];
