import type { Infra } from '../../infra/infra.js';
import type { Executor } from '../../infra/db/database.js';
import type { GroupDirectory } from '../events/event-access.js';
import { GroupsRepository } from './groups.repository.js';
import { GroupsService } from './groups.service.js';
import { InvitationsService, type ContactDirectory } from './invitations.service.js';

/**
 * Groups: builds the services from the infrastructure ports and the contact directory (accounts), provides the
 * events module its view of groups, and hands over or closes the groups of a deleted account.
 */
export function createGroupsModule(infra: Infra, deps: { contacts: ContactDirectory }) {
  const { database, clock, outbox, config } = infra;
  const repo = new GroupsRepository();
  const common = {
    repo,
    db: database.db,
    clock,
    limiter: infra.limiter,
    unitOfWork: outbox.unitOfWork,
    config: config.groups,
  };
  const service = new GroupsService(common);
  const invitations = new InvitationsService({ ...common, groups: service, contacts: deps.contacts });

  /** What the events module may know of groups: live groups, who belongs with which role, who is banned. */
  const directory: GroupDirectory = {
    async findGroup(exec: Executor, groupId: string) {
      const group = await repo.findGroup(exec, groupId);
      return group
        ? { id: group.id, ownerId: group.ownerId, visibility: group.visibility, name: group.name }
        : null;
    },
    async membership(exec: Executor, groupId: string, userId: string) {
      const member = await repo.liveMembership(exec, groupId, userId);
      return member ? { role: member.role, displayName: member.displayName } : null;
    },
    bannedGroupIds: (exec: Executor, userId: string) => repo.bannedGroupIds(exec, userId),
    holdMembership: (tx: Executor, groupId: string, userId: string) =>
      repo.holdMembership(tx, groupId, userId),
  };

  outbox.subscribe('groups.on-user-deleted', ['user.deleted'], async (event, ctx) => {
    await service.onUserDeleted(ctx, event.payload.userId);
  });

  return { repo, service, invitations, directory };
}

export type GroupsModule = ReturnType<typeof createGroupsModule>;
