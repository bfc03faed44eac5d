import { inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../infra/db/database.js';
import { userPresence } from './presence.schema.js';

export class PresenceRepository {
  /**
   * Records when each person was last seen (never moving a time backwards), a few thousand per statement
   * (PostgreSQL takes at most 65,535 parameters). Each person at most once per call.
   */
  async touch(db: Executor, seen: ReadonlyMap<string, Date>): Promise<void> {
    const rows = [...seen].map(([userId, lastSeenAt]) => ({ userId, lastSeenAt }));
    for (let i = 0; i < rows.length; i += 5_000) {
      await db
        .insert(userPresence)
        .values(rows.slice(i, i + 5_000))
        .onConflictDoUpdate({
          target: userPresence.userId,
          set: { lastSeenAt: sql`greatest(${userPresence.lastSeenAt}, excluded.last_seen_at)` },
        });
    }
  }

  async lastSeen(db: Executor, userIds: string[]): Promise<Map<string, Date>> {
    if (userIds.length === 0) return new Map();
    const rows = await db.select().from(userPresence).where(inArray(userPresence.userId, userIds));
    return new Map(rows.map((r) => [r.userId, r.lastSeenAt]));
  }
}
