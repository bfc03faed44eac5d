import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { decodeCursor, encodeCursor, filtersDigest } from '../discovery/discovery.cursor.js';
import type { Counts, ReactionsRepository } from './reactions.repository.js';
import type { ReactionKind, ReactionTargetType } from './reactions.schema.js';
import type { ReactionTargets } from './reactions.targets.js';

export interface ReactionState extends Counts {
  liked: boolean;
  bookmarked: boolean;
}

export interface SavedItem {
  targetType: ReactionTargetType;
  targetId: string;
  name: string;
  savedAt: Date;
}

/**
 * Likes and bookmarks: set or cleared (idempotent: PUT twice likes once, DELETE twice unlikes once), on
 * anything the caller can see. The reaction row and the target's counter change in one transaction, and the
 * counter moves only when a row was really added or removed, so counts stay exact however many people press
 * at once.
 */
export class ReactionsService {
  constructor(
    private readonly deps: {
      repo: ReactionsRepository;
      db: Executor;
      unitOfWork: UnitOfWork;
      targets: ReactionTargets;
    },
  ) {}

  async set(
    actor: Actor,
    targetType: ReactionTargetType,
    targetId: string,
    kind: ReactionKind,
    on: boolean,
  ): Promise<ReactionState> {
    const target = this.deps.targets[targetType];
    const ref = { targetType, targetId };
    return this.deps.unitOfWork(async ({ tx }) => {
      if (!(await target.visible(tx, targetId, actor.userId))) throw notFound(targetType);
      const changed = on
        ? await this.deps.repo.add(tx, ref, kind, actor.userId)
        : await this.deps.repo.remove(tx, ref, kind, actor.userId);
      if (changed) await target.adjust(tx, targetId, kind, on ? 1 : -1);
      const [counts, mine] = [
        await target.counts(tx, targetId),
        await this.deps.repo.mine(tx, ref, actor.userId),
      ];
      return { ...counts, liked: mine.has('like'), bookmarked: mine.has('bookmark') };
    });
  }

  /**
   * A deleted account's likes and bookmarks go, and the counts drop with them: people who left are not counted
   * as liking anything.
   */
  async onUserDeleted(ctx: TxContext, userId: string): Promise<void> {
    const removed = await this.deps.repo.removeAllBy(ctx.tx, userId);
    for (const r of removed) await this.deps.targets[r.targetType].adjust(ctx.tx, r.targetId, r.kind, -1);
  }

  /**
   * My likes or bookmarks, newest first. Things I can no longer see (an event that went private after I was
   * removed, a group that was deleted) are left out of the page, not revealed.
   */
  async saved(
    actor: Actor,
    kind: ReactionKind,
    input: { type?: ReactionTargetType; cursor?: string; limit?: number },
  ): Promise<{ items: SavedItem[]; nextCursor: string | null }> {
    const limit = input.limit ?? 20;
    const sort = `saved:${kind}`;
    const digest = filtersDigest({ type: input.type ?? null });
    const after = input.cursor ? decodeCursor(input.cursor, { sort, digest, key: 'time' }) : undefined;
    const rows = await this.deps.repo.saved(
      this.deps.db,
      actor.userId,
      kind,
      input.type,
      after ? { savedAt: after.key as string, targetId: after.id } : undefined,
      limit + 1,
    );
    const page = rows.slice(0, limit);
    const items: SavedItem[] = [];
    for (const row of page) {
      const target = this.deps.targets[row.targetType];
      if (!(await target.visible(this.deps.db, row.targetId, actor.userId))) continue;
      const name = await target.name(this.deps.db, row.targetId);
      if (name === null) continue;
      items.push({ ...row, name, savedAt: new Date(row.savedAt) });
    }
    const last = page.at(-1);
    return {
      items,
      nextCursor:
        rows.length > limit && last
          ? encodeCursor({ sort, key: last.savedAt, id: last.targetId }, digest)
          : null,
    };
  }
}

function notFound(type: ReactionTargetType): AppError {
  return new AppError('NOT_FOUND', type === 'event' ? 'No such event.' : 'No such group.');
}
