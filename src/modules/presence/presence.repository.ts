import { inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../infra/db/database.js';
import { userPresence } from './presence.schema.js';

export class PresenceRepository {
  async touch(db: Executor, userId: string, at: Date): Promise<void> {
    await db
      .insert(userPresence)
      .values({ userId, lastSeenAt: at })
      .onConflictDoUpdate({
        target: userPresence.userId,
        set: { lastSeenAt: sql`greatest(${userPresence.lastSeenAt}, excluded.last_seen_at)` },
      });
  }

  /** Everyone a heartbeat covers, a few thousand per statement (PostgreSQL takes at most 65,535 parameters). */
  async touchMany(db: Executor, userIds: string[], at: Date): Promise<void> {
    for (let i = 0; i < userIds.length; i += 5_000) {
      await db
        .insert(userPresence)
        .values(userIds.slice(i, i + 5_000).map((userId) => ({ userId, lastSeenAt: at })))
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
