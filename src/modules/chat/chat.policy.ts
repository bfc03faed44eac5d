import type { ConversationRow, MemberRow } from './chat.repository.js';

/** Admins of a conversation (a group's owner and admins, an event's host) pin notices and delete any message. */
export const canModerate = (member: MemberRow): boolean => member.role === 'admin';

/**
 * The last sequence number a member may not see: 0 when the whole history is visible, the number at which they
 * joined when the conversation shows members only what was said after they joined.
 */
export const historyFloor = (conversation: ConversationRow, member: MemberRow): number =>
  conversation.historyVisibility === 'since_join' ? member.joinedSeq : 0;
