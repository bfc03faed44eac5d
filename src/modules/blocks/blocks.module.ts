import type { Infra } from '../../infra/infra.js';
import { BlocksRepository } from './blocks.repository.js';
import { BlocksService } from './blocks.service.js';

/** Per-person blocks; chat and presence read them through the `BlockDirectory` port (the service). */
export function createBlocksModule(infra: Infra) {
  const repo = new BlocksRepository();
  const service = new BlocksService({ repo, db: infra.database.db });
  return { repo, service };
}

export type BlocksModule = ReturnType<typeof createBlocksModule>;
