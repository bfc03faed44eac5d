import type { Clock } from '../../infra/clock.js';
import { readAll, type Executor } from '../../infra/db/database.js';
import { AppError } from '../../shared/errors.js';
import { canManage, canSee, isOwner, type GroupViewer } from './groups.policy.js';
import type { GroupRow, GroupsRepository } from './groups.repository.js';

export interface LoadedGroup {
  group: GroupRow;
  viewer: GroupViewer;
}

/**
 * Loads a group together with what the caller is to it, and refuses with 404 when the caller may not see it: to
 * an outsider a private (or deleted) group does not exist.
 */
export class GroupAccess {
  constructor(private readonly deps: { repo: GroupsRepository; clock: Clock }) {}

  async viewer(exec: Executor, group: GroupRow, userId: string | null): Promise<GroupViewer> {
    if (userId === null) return { userId, member: null, banned: false, invitation: null, request: null };
    const { repo } = this.deps;
    const [member, ban, invitation, request] = await readAll(
      exec,
      () => repo.findMember(exec, group.id, userId),
      () => repo.findBan(exec, group.id, userId),
      () => repo.pendingInvitation(exec, group.id, userId, this.deps.clock.now()),
      () => repo.pendingRequest(exec, group.id, userId),
    );
    return {
      userId,
      member: member ?? null,
      banned: ban !== undefined,
      invitation: invitation ?? null,
      request: request ?? null,
    };
  }

  /** The group and its viewer; with `lock`, the group row stays locked until the transaction ends. */
  async load(
    exec: Executor,
    groupId: string,
    userId: string | null,
    opts: { lock?: boolean } = {},
  ): Promise<LoadedGroup> {
    const group = opts.lock
      ? await this.deps.repo.lockGroup(exec, groupId)
      : await this.deps.repo.findGroup(exec, groupId);
    if (!group) throw notFound();
    const viewer = await this.viewer(exec, group, userId);
    if (!canSee(group, viewer)) throw notFound();
    return { group, viewer };
  }

  /** As `load`, for the group's members only: others who can see the group get 403. */
  async loadAsMember(exec: Executor, groupId: string, userId: string, opts: { lock?: boolean } = {}) {
    const loaded = await this.load(exec, groupId, userId, opts);
    if (!loaded.viewer.member) throw new AppError('NOT_A_MEMBER', 'Only members of the group can do this.');
    return { ...loaded, member: loaded.viewer.member };
  }

  /** As `load`, for the owner and admins: members get 403, outsiders of a private group 404. */
  async loadAsManager(exec: Executor, groupId: string, userId: string, opts: { lock?: boolean } = {}) {
    const loaded = await this.loadAsMember(exec, groupId, userId, opts);
    if (!canManage(loaded.viewer)) throw new AppError('FORBIDDEN', 'Only the owner and admins can do this.');
    return loaded;
  }

  async loadAsOwner(exec: Executor, groupId: string, userId: string, opts: { lock?: boolean } = {}) {
    const loaded = await this.loadAsMember(exec, groupId, userId, opts);
    if (!isOwner(loaded.viewer)) throw new AppError('FORBIDDEN', 'Only the owner can do this.');
    return loaded;
  }
}

export const notFound = () => new AppError('NOT_FOUND', 'No such group.');
