import { sql } from 'drizzle-orm';
import { queryRows, type Executor } from '../../infra/db/database.js';
import type { ReactionKind, ReactionTargetType } from './reactions.schema.js';

export interface ReactionRef {
  targetType: ReactionTargetType;
  targetId: string;
}

export interface Counts {
  likeCount: number;
  bookmarkCount: number;
}

export interface SavedRow extends ReactionRef {
  /** When it was saved, UTC with microseconds (the keyset of "my bookmarks"). */
  savedAt: string;
}

/** The SQL of likes and bookmarks, and of the counters events keep of them. */
export class ReactionsRepository {
  /** Adds the reaction; false when it was there already (a repeated like changes nothing). */
  async add(tx: Executor, ref: ReactionRef, kind: ReactionKind, userId: string): Promise<boolean> {
    const rows = await queryRows(
      tx,
      sql`insert into reactions (target_type, target_id, kind, user_id)
          values (${ref.targetType}, ${ref.targetId}, ${kind}, ${userId})
          on conflict do nothing returning 1 as added`,
    );
    return rows.length === 1;
  }

  /** Removes the reaction; false when there was none. */
  async remove(tx: Executor, ref: ReactionRef, kind: ReactionKind, userId: string): Promise<boolean> {
    const rows = await queryRows(
      tx,
      sql`delete from reactions where target_type = ${ref.targetType} and target_id = ${ref.targetId}
          and kind = ${kind} and user_id = ${userId} returning 1 as removed`,
    );
    return rows.length === 1;
  }

  /** Removes every reaction of a person, answering what was removed so the counters can follow. */
  async removeAllBy(tx: Executor, userId: string): Promise<(ReactionRef & { kind: ReactionKind })[]> {
    return queryRows(
      tx,
      sql`delete from reactions where user_id = ${userId}
          returning target_type as "targetType", target_id as "targetId", kind`,
    );
  }

  async mine(db: Executor, ref: ReactionRef, userId: string): Promise<Set<ReactionKind>> {
    const rows = await queryRows<{ kind: ReactionKind }>(
      db,
      sql`select kind from reactions where target_type = ${ref.targetType} and target_id = ${ref.targetId}
          and user_id = ${userId}`,
    );
    return new Set(rows.map((r) => r.kind));
  }

  /**
   * Moves an event's counter by the change just made to the reaction rows, in the same transaction. The
   * increment is applied under the row's lock, so simultaneous likes by different people all count.
   */
  async adjustEventCount(tx: Executor, eventId: string, kind: ReactionKind, delta: 1 | -1): Promise<void> {
    const column = kind === 'like' ? sql`like_count` : sql`bookmark_count`;
    await tx.execute(sql`update events set ${column} = ${column} + ${delta} where id = ${eventId}`);
  }

  async eventCounts(db: Executor, eventId: string): Promise<Counts> {
    const [row] = await queryRows<Counts>(
      db,
      sql`select like_count as "likeCount", bookmark_count as "bookmarkCount" from events where id = ${eventId}`,
    );
    return row ?? { likeCount: 0, bookmarkCount: 0 };
  }

  /** Counted from the rows themselves (an index-only count on the primary key). */
  async countRows(db: Executor, ref: ReactionRef): Promise<Counts> {
    const [row] = await queryRows<Counts>(
      db,
      sql`select count(*) filter (where kind = 'like')::int as "likeCount",
                 count(*) filter (where kind = 'bookmark')::int as "bookmarkCount"
          from reactions where target_type = ${ref.targetType} and target_id = ${ref.targetId}`,
    );
    return row ?? { likeCount: 0, bookmarkCount: 0 };
  }

  /** A person's likes or bookmarks, newest first, optionally of one target type. */
  async saved(
    db: Executor,
    userId: string,
    kind: ReactionKind,
    type: ReactionTargetType | undefined,
    after: { savedAt: string; targetId: string } | undefined,
    limit: number,
  ): Promise<SavedRow[]> {
    return queryRows<SavedRow>(
      db,
      sql`select target_type as "targetType", target_id as "targetId",
            to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "savedAt"
          from reactions
          where user_id = ${userId} and kind = ${kind}
            ${type ? sql`and target_type = ${type}` : sql``}
            ${after ? sql`and (created_at, target_id) < (${after.savedAt}::timestamptz, ${after.targetId}::uuid)` : sql``}
          order by created_at desc, target_id desc
          limit ${limit}`,
    );
  }
}
