import type { Executor } from '../../infra/db/database.js';
import { isAppError } from '../../shared/errors.js';
import { EventAccess, type GroupDirectory } from '../events/event-access.js';
import type { EventsRepository } from '../events/events.repository.js';
import type { Counts, ReactionsRepository } from './reactions.repository.js';
import type { ReactionKind, ReactionTargetType } from './reactions.schema.js';

/**
 * What the reactions module needs from each kind of target: who may see it (a like or bookmark on something
 * the caller cannot see answers 404, as the thing itself does), and where its counts live.
 */
export interface ReactionTarget {
  visible(exec: Executor, id: string, userId: string): Promise<boolean>;
  /** Moves a stored counter in the caller's transaction; a target counted on read does nothing. */
  adjust(exec: Executor, id: string, kind: ReactionKind, delta: 1 | -1): Promise<void>;
  counts(exec: Executor, id: string): Promise<Counts>;
  /** A short label for lists ("my bookmarks"). */
  name(exec: Executor, id: string): Promise<string | null>;
}

export type ReactionTargets = Record<ReactionTargetType, ReactionTarget>;

/**
 * Events keep their counters in `events.like_count` / `bookmark_count` (the "most liked" sort reads them);
 * groups are counted from the reaction rows until the groups module keeps counters of its own. Visibility
 * comes from each module's own rules: events through EventAccess, groups through the GroupDirectory port
 * (public groups, or private ones to their members).
 */
export function reactionTargets(deps: {
  events: EventsRepository;
  groups: GroupDirectory;
  repo: ReactionsRepository;
}): ReactionTargets {
  const access = new EventAccess({ repo: deps.events, groups: deps.groups });
  return {
    event: {
      async visible(exec, id, userId) {
        try {
          await access.load(exec, id, userId);
          return true;
        } catch (err) {
          if (isAppError(err) && err.code === 'NOT_FOUND') return false;
          throw err;
        }
      },
      adjust: (exec, id, kind, delta) => deps.repo.adjustEventCount(exec, id, kind, delta),
      counts: (exec, id) => deps.repo.eventCounts(exec, id),
      name: async (exec, id) => (await deps.events.findEvent(exec, id))?.title ?? null,
    },
    group: {
      async visible(exec, id, userId) {
        const group = await deps.groups.findGroup(exec, id);
        if (!group) return false;
        return group.visibility === 'public' || (await deps.groups.membership(exec, id, userId)) !== null;
      },
      adjust: async () => {},
      counts: (exec, id) => deps.repo.countRows(exec, { targetType: 'group', targetId: id }),
      name: async (exec, id) => (await deps.groups.findGroup(exec, id))?.name ?? null,
    },
  };
}
