import type { GroupDirectory } from '../events/event-access.js';
import type { FeedRow } from './calendar.repository.js';

type Group = NonNullable<Awaited<ReturnType<GroupDirectory['findGroup']>>>;
type Membership = Awaited<ReturnType<GroupDirectory['membership']>>;

/**
 * What a viewer may see of a group's calendar: null when the group is to be answered 404 (missing, or private
 * and the viewer not a member); otherwise whether they are a member (members see every event of the group,
 * everyone else its public events only).
 */
export function groupCalendarAccess(group: Group | null, membership: Membership): { member: boolean } | null {
  if (!group) return null;
  if (group.visibility === 'private' && !membership) return null;
  return { member: membership !== null };
}

/** A group feed is a member's: only members get one, and it stops working when they are no longer one. */
export const mayHaveGroupFeed = (membership: Membership): boolean => membership !== null;

/** A feed is managed by its owner alone; to anyone else it does not exist. */
export const ownsFeed = (feed: FeedRow, userId: string): boolean => feed.ownerId === userId;
