import type { Executor } from '../../infra/db/database.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import type { BlocksRepository } from './blocks.repository.js';

/**
 * What other modules ask about blocks. A block works both ways for what it hides: neither person can open or
 * write a direct conversation with the other, and neither sees the other's presence.
 */
export interface BlockDirectory {
  /** True when either has blocked the other. */
  between(a: string, b: string, exec?: Executor): Promise<boolean>;
  /** Everyone the person blocked or was blocked by. */
  related(userId: string): Promise<string[]>;
}

export interface BlockView {
  userId: string;
  blockedAt: string;
}

/** A person blocks or unblocks another; both are idempotent. */
export class BlocksService implements BlockDirectory {
  constructor(
    private readonly deps: {
      repo: BlocksRepository;
      db: Executor;
      /** Whether an account exists and is not deleted (the accounts module knows). */
      isActiveUser: (userId: string) => Promise<boolean>;
    },
  ) {}

  async block(actor: Actor, userId: string): Promise<BlockView> {
    if (userId === actor.userId) {
      throw new AppError('VALIDATION_FAILED', 'You cannot block yourself.', {
        details: [{ path: '/params/id', message: 'must not be yourself' }],
      });
    }
    if (!(await this.deps.isActiveUser(userId))) {
      throw new AppError('NOT_FOUND', 'No such user.');
    }
    const at = await this.deps.repo.block(this.deps.db, actor.userId, userId);
    return { userId, blockedAt: at.toISOString() };
  }

  async unblock(actor: Actor, userId: string): Promise<void> {
    await this.deps.repo.unblock(this.deps.db, actor.userId, userId);
  }

  async list(actor: Actor): Promise<BlockView[]> {
    const rows = await this.deps.repo.list(this.deps.db, actor.userId);
    return rows.map((r) => ({ userId: r.userId, blockedAt: r.blockedAt.toISOString() }));
  }

  between(a: string, b: string, exec: Executor = this.deps.db): Promise<boolean> {
    return this.deps.repo.between(exec, a, b);
  }

  related(userId: string): Promise<string[]> {
    return this.deps.repo.related(this.deps.db, userId);
  }
}
