import { pgErrorCode, type Executor } from '../../infra/db/database.js';
import type { Logger } from '../../infra/logger.js';
import type { ChatRepository } from './chat.repository.js';

/**
 * Keeps the message search index's pending list short (see `ChatRepository.sweepSearchIndex`), so that no send
 * pays for merging it. Each node sweeps every `CHAT_SEARCH_INDEX_SWEEP_MS` once it has written message text
 * since its last sweep; an idle node sends no query.
 */
export class SearchIndexUpkeep {
  private dirty = false;
  private running = false;
  private disabled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { repo: ChatRepository; db: Executor; logger: Logger; intervalMs: number },
  ) {}

  /** Message text was written (a send or an edit): there are pending entries to merge. */
  written(): void {
    this.dirty = true;
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => void this.sweep(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass: the pending pages merged (0 when there was nothing to merge or another node was merging). */
  async sweep(): Promise<number> {
    if (!this.dirty || this.running || this.disabled) return 0;
    this.running = true;
    this.dirty = false;
    try {
      const pages = await this.deps.repo.sweepSearchIndex(this.deps.db);
      // Another node held the sweep: what this node wrote may still be pending after it, so look again next time.
      if (pages === null) this.dirty = true;
      return pages ?? 0;
    } catch (err) {
      if (pgErrorCode(err) === '42501') {
        // Only the index's owner may merge it (a deployment migrating with another role): PostgreSQL's own
        // merge inside inserts still happens, with the stalls this was avoiding.
        this.disabled = true;
        this.deps.logger.warn(
          { err },
          "chat search index: not the index's owner, so sends merge its pending list themselves",
        );
      } else {
        this.dirty = true;
        this.deps.logger.warn({ err }, 'chat search index sweep failed; trying again');
      }
      return 0;
    } finally {
      this.running = false;
    }
  }
}
