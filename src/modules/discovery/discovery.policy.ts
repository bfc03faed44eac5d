import type { Executor } from '../../infra/db/database.js';
import { AppError } from '../../shared/errors.js';
import type { GroupDirectory } from '../events/event-access.js';

/**
 * What a listing may show. Without a group filter: public events only — a private event is never listed,
 * whoever asks (people involved find theirs under "mine"). With a group filter: the group must be visible to
 * the caller (a private group answers 404 to outsiders, as everywhere); its members see all its events,
 * others its public ones.
 *
 * Returns whether the group's private events may be listed.
 */
export async function listableInGroup(
  exec: Executor,
  groups: GroupDirectory,
  groupId: string,
  viewerId: string | null,
): Promise<boolean> {
  const group = await groups.findGroup(exec, groupId);
  const membership = group && viewerId ? await groups.membership(exec, group.id, viewerId) : null;
  if (!group || (group.visibility === 'private' && !membership)) {
    throw new AppError('NOT_FOUND', 'No such group.');
  }
  return membership !== null;
}
