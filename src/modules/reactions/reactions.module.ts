import type { Infra } from '../../infra/infra.js';
import type { GroupDirectory } from '../events/event-access.js';
import type { EventsModule } from '../events/events.module.js';
import { ReactionsRepository } from './reactions.repository.js';
import { ReactionsService } from './reactions.service.js';
import { reactionTargets, type ReactionTargets } from './reactions.targets.js';

/**
 * Likes and bookmarks. `targets` may be given whole (a test double of a target type whose module is not
 * there); by default they are built from the events module and the groups directory.
 */
export function createReactionsModule(
  infra: Infra,
  deps: { events: EventsModule; groups: GroupDirectory; targets?: Partial<ReactionTargets> },
) {
  const repo = new ReactionsRepository();
  const targets = {
    ...reactionTargets({ events: deps.events.repo, groups: deps.groups, repo }),
    ...deps.targets,
  };
  const service = new ReactionsService({
    repo,
    db: infra.database.db,
    unitOfWork: infra.outbox.unitOfWork,
    targets,
  });
  infra.outbox.subscribe('reactions.on-user-deleted', ['user.deleted'], async (event, ctx) => {
    await service.onUserDeleted(ctx, event.payload.userId);
  });
  return { repo, service, targets };
}

export type ReactionsModule = ReturnType<typeof createReactionsModule>;
