import { readAll, type Executor } from '../../infra/db/database.js';
import { AppError } from '../../shared/errors.js';
import { canManage, canModerate, canView, type EventViewer } from './events.policy.js';
import type { EventRow, EventsRepository } from './events.repository.js';

/** What the events module needs to know about groups; the groups module provides it. */
export interface GroupDirectory {
  findGroup(
    exec: Executor,
    groupId: string,
  ): Promise<{ id: string; ownerId: string; visibility: 'public' | 'private'; name: string } | null>;
  membership(
    exec: Executor,
    groupId: string,
    userId: string,
  ): Promise<{ role: 'owner' | 'admin' | 'member'; displayName: string | null } | null>;
  /** The groups that banned the person: they take part in none of their events until unbanned. */
  bannedGroupIds(exec: Executor, userId: string): Promise<string[]>;
  /**
   * Whether the person is a member of the live group, holding that fact until the caller's transaction ends: a
   * departure or deletion waits for it to commit. For writes that are only allowed to members.
   */
  holdMembership(tx: Executor, groupId: string, userId: string): Promise<boolean>;
}

export interface LoadedEvent {
  event: EventRow;
  viewer: EventViewer;
}

/**
 * Loads an event together with what the caller is to it, and refuses with 404 when the caller may not see it:
 * to an outsider a private event does not exist.
 */
export class EventAccess {
  constructor(private readonly deps: { repo: EventsRepository; groups: GroupDirectory }) {}

  async viewer(exec: Executor, event: EventRow, userId: string | null): Promise<EventViewer> {
    if (userId === null) return { userId, participant: null, invitation: null, groupRole: null };
    const { groupId } = event;
    const [participant, invitation, membership] = await readAll(
      exec,
      () => this.deps.repo.findParticipant(exec, event.id, userId),
      () => this.deps.repo.pendingInvitation(exec, event.id, userId),
      async () => (groupId ? this.deps.groups.membership(exec, groupId, userId) : null),
    );
    return {
      userId,
      participant: participant ?? null,
      invitation: invitation ?? null,
      groupRole: membership?.role ?? null,
    };
  }

  /** The event and its viewer; with `lock`, the event row stays locked until the transaction ends. */
  async load(
    exec: Executor,
    eventId: string,
    userId: string | null,
    opts: { lock?: boolean } = {},
  ): Promise<LoadedEvent> {
    const event = opts.lock
      ? await this.deps.repo.lockEvent(exec, eventId)
      : await this.deps.repo.findEvent(exec, eventId);
    if (!event) throw notFound();
    const viewer = await this.viewer(exec, event, userId);
    if (!canView(event, viewer)) throw notFound();
    return { event, viewer };
  }

  /** As `load`, for the host's own actions: others who can see the event get 403. */
  async loadAsHost(exec: Executor, eventId: string, userId: string): Promise<LoadedEvent> {
    const loaded = await this.load(exec, eventId, userId, { lock: true });
    if (!canManage(loaded.event, loaded.viewer)) {
      throw new AppError('FORBIDDEN', 'Only the host can do this.');
    }
    return loaded;
  }

  /** As `load`, for editing and cancelling: the host, or the owner and admins of the event's group. */
  async loadAsModerator(exec: Executor, eventId: string, userId: string): Promise<LoadedEvent> {
    const loaded = await this.load(exec, eventId, userId, { lock: true });
    if (!canModerate(loaded.event, loaded.viewer)) {
      throw new AppError('FORBIDDEN', 'Only the host (or the group’s owner and admins) can do this.');
    }
    return loaded;
  }
}

export const notFound = () => new AppError('NOT_FOUND', 'No such event.');
