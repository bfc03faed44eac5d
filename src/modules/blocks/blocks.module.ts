import type { Infra } from '../../infra/infra.js';
import type { AccountsModule } from '../accounts/accounts.module.js';
import { BlocksRepository } from './blocks.repository.js';
import { BlocksService } from './blocks.service.js';

/** Per-person blocks; chat and presence read them through the `BlockDirectory` port (the service). */
export function createBlocksModule(infra: Infra, deps: { accounts: AccountsModule }) {
  const repo = new BlocksRepository();
  const db = infra.database.db;
  const service = new BlocksService({
    repo,
    db,
    isActiveUser: async (userId) => {
      const user = await deps.accounts.repo.findUserById(db, userId);
      return user !== undefined && user.deletedAt === null;
    },
  });
  return { repo, service };
}

export type BlocksModule = ReturnType<typeof createBlocksModule>;
