import { inArray, sql } from 'drizzle-orm';
import { queryRows, retryingConflicts, type Executor } from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import { userPresence } from './presence.schema.js';

export class PresenceRepository {
  /**
   * Records when each person was last seen (never moving a time backwards), in one statement whatever the number
   * (two array parameters; a heartbeat covers every socket of the node, 10,000 and more). Built by drizzle as a
   * multi-row insert, a heartbeat of 2,000 took ~60 ms of the event loop. A person whose account was deleted
   * meanwhile is left out rather than failing the rest. Each person at most once per call.
   */
  async touch(db: Executor, seen: ReadonlyMap<string, Date>): Promise<void> {
    if (seen.size === 0) return;
    const ids: string[] = [];
    const times: number[] = [];
    for (const [userId, at] of seen) {
      ids.push(userId);
      times.push(at.getTime());
    }
    // Rows locked in id order: two nodes' heartbeats (or a heartbeat and a disconnect's write) over the same people
    // wait for each other instead of deadlocking; a deadlock would still be retried.
    await retryingConflicts(() =>
      queryRows(
        db,
        sql`insert into ${userPresence} (user_id, last_seen_at)
            select u.id, to_timestamp(u.ms / 1000.0)
            from unnest(${`{${ids.join(',')}}`}::uuid[], ${`{${times.join(',')}}`}::bigint[]) as u(id, ms)
            join ${users} on ${users.id} = u.id
            order by u.id
            on conflict (user_id) do update
            set last_seen_at = greatest(${userPresence.lastSeenAt}, excluded.last_seen_at)`,
        'presence_touch',
      ),
    );
  }

  async lastSeen(db: Executor, userIds: string[]): Promise<Map<string, Date>> {
    if (userIds.length === 0) return new Map();
    const rows = await db.select().from(userPresence).where(inArray(userPresence.userId, userIds));
    return new Map(rows.map((r) => [r.userId, r.lastSeenAt]));
  }
}
