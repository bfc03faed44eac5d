import type { Logger } from './infra/logger.js';

/**
 * Time the last shutdown step (closing the database) gets past the shutdown timeout; within the 2 s the signal
 * handler allows beyond it (main.ts).
 */
export const SHUTDOWN_CLOSE_GRACE_MS = 1_500;

/**
 * The steps of a shutdown, each bounded by what is left of the shutdown timeout. Under load a step can take
 * longer than the whole budget (a flush queued behind thousands of database calls, running jobs); such a step
 * is left to finish or die with the process, with a warning, so the shutdown ends on time and the process exits
 * 0: it stopped as asked, and what it abandoned is either durable already or expires by itself (positions,
 * the counts of open access-log spans, jobs pg-boss hands out again). A step that fails is an error (exit 1).
 */
export class ShutdownSteps {
  readonly late: string[] = [];
  failed: string[] | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly deadline: number,
  ) {}

  leftMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  async run(name: string, fn: () => Promise<unknown>, opts: { graceMs?: number } = {}): Promise<void> {
    const budgetMs = this.leftMs() + (opts.graceMs ?? 0);
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), budgetMs);
    });
    const outcome = await Promise.race([
      fn().then(
        () => 'done' as const,
        (err: unknown) => {
          this.logger.error({ err, step: name }, 'shutdown step failed');
          return 'failed' as const;
        },
      ),
      outOfTime,
    ]);
    clearTimeout(timer);
    if (outcome === 'failed') (this.failed ??= []).push(name);
    if (outcome === 'late') {
      this.late.push(name);
      this.logger.warn({ step: name, budgetMs }, 'shutdown step did not finish within the shutdown timeout');
    }
  }

  /** Throws when a step failed (the process exits 1); otherwise logs the end, naming what was left unfinished. */
  finish(): void {
    if (this.failed) throw new Error(`shutdown failed: ${this.failed.join(', ')}`);
    if (this.late.length > 0) {
      this.logger.info({ abandoned: this.late }, 'shutdown complete (some work abandoned at the deadline)');
    } else {
      this.logger.info('shutdown complete');
    }
  }
}
