import { and, desc, eq, or, sql } from 'drizzle-orm';
import { runPrepared, type Executor, type PreparedStatement } from '../../infra/db/database.js';
import { userBlocks } from './blocks.schema.js';

export class BlocksRepository {
  /** Records the block (once); answers when it was made. */
  async block(db: Executor, blockerId: string, blockedId: string): Promise<Date> {
    await db.insert(userBlocks).values({ blockerId, blockedId }).onConflictDoNothing();
    const [row] = await db
      .select({ at: userBlocks.createdAt })
      .from(userBlocks)
      .where(and(eq(userBlocks.blockerId, blockerId), eq(userBlocks.blockedId, blockedId)));
    return row!.at;
  }

  async unblock(db: Executor, blockerId: string, blockedId: string): Promise<void> {
    await db
      .delete(userBlocks)
      .where(and(eq(userBlocks.blockerId, blockerId), eq(userBlocks.blockedId, blockedId)));
  }

  async list(db: Executor, blockerId: string): Promise<{ userId: string; blockedAt: Date }[]> {
    return db
      .select({ userId: userBlocks.blockedId, blockedAt: userBlocks.createdAt })
      .from(userBlocks)
      .where(eq(userBlocks.blockerId, blockerId))
      .orderBy(desc(userBlocks.createdAt));
  }

  async between(db: Executor, a: string, b: string): Promise<boolean> {
    const [row] = await db
      .select({ a: userBlocks.blockerId })
      .from(userBlocks)
      .where(
        or(
          and(eq(userBlocks.blockerId, a), eq(userBlocks.blockedId, b)),
          and(eq(userBlocks.blockerId, b), eq(userBlocks.blockedId, a)),
        ),
      )
      .limit(1);
    return row !== undefined;
  }

  /** Everyone `userId` blocked or was blocked by. */
  async related(db: Executor, userId: string): Promise<string[]> {
    // Read on every presence announcement (each connect and disconnect): built once (see runPrepared).
    this.relatedStatement ??= db
      .select({ blockerId: userBlocks.blockerId, blockedId: userBlocks.blockedId })
      .from(userBlocks)
      .where(
        or(
          eq(userBlocks.blockerId, sql.placeholder('userId')),
          eq(userBlocks.blockedId, sql.placeholder('userId')),
        ),
      )
      .prepare('blocks_related');
    const rows = await runPrepared(this.relatedStatement, db, { userId });
    return [...new Set(rows.map((r) => (r.blockerId === userId ? r.blockedId : r.blockerId)))];
  }
  private relatedStatement: PreparedStatement<{ blockerId: string; blockedId: string }[]> | undefined;
}
