import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { Logger } from '../../infra/logger.js';
import type { LocationsRepository } from './locations.repository.js';

/**
 * How long one row of the access log covers: deliveries of a share to a viewer within this long of the first are
 * counted into that row. Shorter means more rows (each is written twice: at its start and its close).
 */
export const ACCESS_SPAN_MS = 60_000;
const CHUNK = 5_000;

interface Span {
  viewerId: string;
  subjectId: string;
  shareId: string;
  first: number;
  last: number;
  count: number;
  /** The row once inserted; -1 when there was nothing left to record it against (viewer or share deleted). */
  id: number | null;
  writtenLast: number;
  writtenCount: number;
}

/**
 * The location access log of one node, made durable within one flush interval without a row per delivery.
 *
 * A (viewer, share) pair opens a span at its first delivery; the span's row is inserted at the next flush
 * (every LOCATION_ACCESS_LOG_FLUSH_SECONDS, 1 s by default), so the fact that the viewer received the position, and
 * when they first did, is in PostgreSQL within that bound. Later deliveries in the span only count in memory; when
 * the span closes (ACCESS_SPAN_MS after its first delivery, or at shutdown) its row gets its final `lastSeenAt` and
 * `deliveries`. A crash therefore loses at most the count and last time of the spans still open (under a minute
 * of them), never a row: a viewer watching for ten minutes has ten rows, the last one possibly short.
 */
export class AccessLogBuffer {
  /** Open spans: viewer → share → span. */
  private open = new Map<string, Map<string, Span>>();
  /** Open spans in the order they opened (which is the order they close in). */
  private queue: Span[] = [];
  private head = 0;
  private unwritten: Span[] = [];
  private unfinished: Span[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly deps: { repo: LocationsRepository; db: Executor; clock: Clock; logger: Logger },
  ) {}

  /** Counts one delivery of `subjectId`'s position (share `shareId`) to `viewerId`. */
  record(viewerId: string, subjectId: string, shareId: string, atMs: number): void {
    let byShare = this.open.get(viewerId);
    if (!byShare) this.open.set(viewerId, (byShare = new Map<string, Span>()));
    const span = byShare.get(shareId);
    if (span) {
      span.last = atMs;
      span.count++;
      return;
    }
    const opened: Span = {
      viewerId,
      subjectId,
      shareId,
      first: atMs,
      last: atMs,
      count: 1,
      id: null,
      writtenLast: 0,
      writtenCount: 0,
    };
    byShare.set(shareId, opened);
    this.queue.push(opened);
    this.unwritten.push(opened);
  }

  /**
   * Inserts the rows of the spans opened since the last flush and completes those that closed; with `closeAll`
   * (shutdown), closes every span. What fails is kept and tried again at the next flush.
   */
  async flush(closeAll = false): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.write(closeAll).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async write(closeAll: boolean): Promise<void> {
    const { repo, db, logger } = this.deps;
    const now = this.deps.clock.now().getTime();
    const closing: Span[] = [];
    while (this.head < this.queue.length) {
      const span = this.queue[this.head]!;
      if (!closeAll && span.first + ACCESS_SPAN_MS > now) break;
      this.head++;
      const byShare = this.open.get(span.viewerId);
      byShare?.delete(span.shareId);
      if (byShare?.size === 0) this.open.delete(span.viewerId);
      closing.push(span);
    }
    if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }

    const inserts = this.unwritten;
    this.unwritten = [];
    for (let i = 0; i < inserts.length; i += CHUNK) {
      const chunk = inserts.slice(i, i + CHUNK);
      // What is written is what was counted when the statement was built; later deliveries go in at the close.
      const rows = chunk.map((s) => ({ ...s }));
      try {
        const ids = await repo.insertAccessSpans(db, rows);
        chunk.forEach((span, j) => {
          span.id = ids.get(j) ?? -1;
          span.writtenLast = rows[j]!.last;
          span.writtenCount = rows[j]!.count;
        });
      } catch (err) {
        logger.warn({ err, rows: chunk.length }, 'location access log insert failed; retrying later');
        this.unwritten.push(...inserts.slice(i));
        break;
      }
    }

    for (const span of closing) {
      if (span.id !== null && span.id >= 0) this.unfinished.push(span);
    }
    const updates = this.unfinished.filter(
      (s) => s.id !== null && (s.last !== s.writtenLast || s.count !== s.writtenCount),
    );
    this.unfinished = [];
    for (let i = 0; i < updates.length; i += CHUNK) {
      const chunk = updates.slice(i, i + CHUNK);
      const rows = chunk.map((s) => ({ id: s.id!, last: s.last, count: s.count }));
      try {
        await repo.completeAccessSpans(db, rows);
      } catch (err) {
        logger.warn({ err, rows: chunk.length }, 'location access log update failed; retrying later');
        this.unfinished.push(...updates.slice(i));
        break;
      }
    }
  }
}
