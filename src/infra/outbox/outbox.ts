import { and, asc, eq, inArray, isNull, lt, lte, sql } from 'drizzle-orm';
import type { DomainEvent, DomainEvents, DomainTopic } from '../../shared/domain-events.js';
import type { Clock } from '../clock.js';
import { runPrepared, type Database, type PreparedStatement, type Tx } from '../db/database.js';
import type { Logger } from '../logger.js';
import { outboxEvents } from './outbox.schema.js';

/** What a service gets inside a unit of work: the transaction, a way to publish events, and post-commit hooks. */
export interface TxContext {
  tx: Tx;
  /** Writes a domain event in this transaction; it is delivered only if the transaction commits. */
  publish: <K extends DomainTopic>(
    topic: K,
    payload: DomainEvents[K],
    actorId?: string | null,
  ) => Promise<void>;
  /** Runs `fn` once the transaction has committed (never if it rolls back). For best-effort side effects. */
  afterCommit: (fn: () => void | Promise<void>) => void;
}

export type UnitOfWork = <T>(fn: (ctx: TxContext) => Promise<T>) => Promise<T>;

/**
 * What a subscriber gets: a savepoint inside the relay's transaction (its writes, and the events it publishes in
 * turn, commit together with marking the event delivered) and post-commit hooks. A projection gets the
 * publisher's own context.
 */
export type SubscriberContext = TxContext;

type Handler<K extends DomainTopic> = (event: DomainEvent<K>, ctx: SubscriberContext) => Promise<void>;

interface Subscription {
  name: string;
  topics: ReadonlySet<string> | '*';
  handler: Handler<DomainTopic>;
}

const MAX_ATTEMPTS = 10;
/** Events claimed per relay transaction. */
const BATCH_SIZE = 100;
/** How long a kicked relay waits for more events before its pass (see `kick`). */
const GATHER_MS = 10;

/**
 * The transactional outbox. Producers write events through a unit of work, which runs each event's projections as it
 * is written; the relay claims undelivered events in batches with `FOR UPDATE SKIP LOCKED` (so any number of
 * processes can run it without double delivery), runs every subscriber inside the transaction that marks the
 * batch delivered, and then runs post-commit hooks.
 */
export class Outbox {
  private readonly subscriptions: Subscription[] = [];
  private readonly projections: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** A unit of work of this process published since the last pass began: no need to look whether one is due. */
  private published = false;
  private stopped = true;
  private insertEvent: PreparedStatement<{ id: number; createdAt: Date }[]> | undefined;

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: { pollIntervalMs: number; retentionDays: number } = {
      pollIntervalMs: 500,
      retentionDays: 7,
    },
  ) {}

  subscribe<K extends DomainTopic>(name: string, topics: K[] | '*', handler: Handler<K>): void {
    this.subscriptions.push(subscription(name, topics, handler));
  }

  /**
   * Keeps another module's state in step with the publisher's: `handler` runs inside the transaction that
   * publishes a matching event, at the moment it publishes it, and its post-commit hooks run before the publisher's
   * call returns. For state that decides who may see or do what (a conversation's members, who sees a location,
   * a revoked session's sockets), which must never be seen out of step with its source, not even for the relay's
   * few milliseconds. A failing projection fails the publisher's transaction (and the request): keep them small,
   * and consequences (notifications, other aggregates, cleanup) with `subscribe`. A projection that publishes
   * runs the projections of what it publishes, so it must not publish its own topic. An event written without
   * them (by SQL, as `chat_send` does, or by a node from before projections: `projected` is false) has them run
   * by the relay, in its transaction, before its subscribers.
   */
  project<K extends DomainTopic>(name: string, topics: K[], handler: Handler<K>): void {
    this.projections.push(subscription(name, topics, handler));
  }

  /** Whether any subscriber of this process (every process registers the same ones) takes `topic`. */
  subscribed(topic: string): boolean {
    return matching(this.subscriptions, topic).length > 0;
  }

  /**
   * An event nobody subscribes to is still recorded (kept for the retention period like any other), but written as
   * already delivered: the relay has nothing to run for it, and a busy producer (every chat message) would otherwise
   * cost it a claim and an update per batch. Returns the time to write as `dispatched_at`, or null to queue it.
   */
  preDispatched(topic: string): Date | null {
    return this.subscribed(topic) ? null : this.clock.now();
  }

  /** Tells the relay that a transaction outside `unitOfWork` (a server-side function) queued an event. */
  notePublished(): void {
    this.published = true;
    this.kick();
  }

  readonly unitOfWork: UnitOfWork = async (fn) => {
    let hooks: (() => void | Promise<void>)[] = [];
    let published = false;
    const result = await this.database.transaction(async (tx) => {
      hooks = [];
      published = false;
      const ctx: TxContext = {
        tx,
        publish: async (topic, payload, actorId = null) => {
          const dispatchedAt = this.preDispatched(topic);
          if (!dispatchedAt) published = true;
          // Built once: a busy producer (a chat send) publishes on every call.
          this.insertEvent ??= tx
            .insert(outboxEvents)
            .values({
              topic: sql.placeholder('topic'),
              payload: sql.placeholder('payload'),
              actorId: sql.placeholder('actorId'),
              // Cast here rather than mapped by the column, which cannot map a null placeholder.
              dispatchedAt: sql`${sql.placeholder('dispatchedAt')}::timestamptz`,
              projected: true,
            })
            .returning({ id: outboxEvents.id, createdAt: outboxEvents.createdAt })
            .prepare('outbox_publish');
          const [row] = await runPrepared(this.insertEvent, tx, {
            topic,
            payload,
            actorId,
            dispatchedAt: dispatchedAt?.toISOString() ?? null,
          });
          await this.runProjections({ id: row!.id, topic, payload, actorId, createdAt: row!.createdAt }, ctx);
        },
        afterCommit: (hook) => {
          hooks.push(hook);
        },
      };
      return fn(ctx);
    });
    if (published) this.notePublished();
    await runHooks(hooks, this.logger);
    return result;
  };

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.pollIntervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * Asks the relay to deliver pending events soon; concurrent kicks coalesce into one more pass. A pass starts
   * `GATHER_MS` after the kick, so that under a stream of writes one relay transaction takes the events of many
   * producers' transactions (a commit per batch, not per event), at the price of that much delivery delay.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
        try {
          // One cheap read while idle, instead of a transaction per poll. A batch that was not full took every
          // due event; what was published meanwhile has kicked again.
          const known = this.published;
          this.published = false;
          if (known || (await this.hasDue())) while ((await this.dispatchBatch(BATCH_SIZE)) === BATCH_SIZE);
        } catch (err) {
          this.logger.error({ err }, 'outbox relay pass failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  /**
   * Delivers every due event and waits for this process's background pass, so that when it returns every event
   * due at the call has been handled (tests use it to flush). Returns how many this call handled.
   */
  async drain(limit = 10_000): Promise<number> {
    let handled = 0;
    // Twice: a background pass may hold (and so hide, via SKIP LOCKED) an event while we look.
    for (let round = 0; round < 2; round++) {
      await this.running;
      for (let n = 1; handled < limit && n > 0; handled += n) {
        n = await this.dispatchBatch(Math.min(BATCH_SIZE, limit - handled));
      }
    }
    await this.running;
    return handled;
  }

  private async hasDue(): Promise<boolean> {
    const [row] = await this.database.db
      .select({ id: outboxEvents.id })
      .from(outboxEvents)
      .where(and(isNull(outboxEvents.dispatchedAt), lte(outboxEvents.nextAttemptAt, sql`now()`)))
      .limit(1);
    return row !== undefined;
  }

  /**
   * Claims up to `limit` due events and delivers them in one transaction: one commit per batch instead of one per
   * event. Each event's subscribers run in a savepoint of their own, so a failing event is scheduled for a retry
   * without undoing the others; the post-commit hooks run in event order once the batch has committed.
   * Returns how many events the batch claimed.
   */
  private async dispatchBatch(limit: number): Promise<number> {
    let hooks: (() => void | Promise<void>)[] = [];
    let followOn = false;
    const claimed = await this.database.transaction(async (tx) => {
      // A deadlock retry runs this again from the start: hooks of the aborted attempt must not run.
      hooks = [];
      followOn = false;
      const rows = await tx
        .select()
        .from(outboxEvents)
        .where(and(isNull(outboxEvents.dispatchedAt), lte(outboxEvents.nextAttemptAt, sql`now()`)))
        .orderBy(asc(outboxEvents.nextAttemptAt), asc(outboxEvents.id))
        .limit(limit)
        .for('update', { skipLocked: true });
      if (rows.length === 0) return 0;
      const delivered: number[] = [];
      let subscribed = false;
      for (const row of rows) {
        const subscribers = matching(this.subscriptions, row.topic);
        // Written without its projections (by an older node, or by SQL): they run here, before the subscribers.
        const projections = row.projected ? [] : matching(this.projections, row.topic);
        if (subscribers.length === 0 && projections.length === 0) {
          delivered.push(row.id);
          continue;
        }
        subscribed = true;
        const event: DomainEvent = {
          id: row.id,
          topic: row.topic as DomainTopic,
          payload: row.payload as DomainEvents[DomainTopic],
          actorId: row.actorId,
          createdAt: row.createdAt,
        };
        const eventHooks: (() => void | Promise<void>)[] = [];
        try {
          await tx.transaction(async (sp) => {
            const ctx: SubscriberContext = {
              tx: sp,
              publish: async (topic, payload, actorId = null) => {
                const dispatchedAt = this.preDispatched(topic);
                const [inserted] = await sp
                  .insert(outboxEvents)
                  .values({ topic, payload, actorId, dispatchedAt, projected: true })
                  .returning({ id: outboxEvents.id, createdAt: outboxEvents.createdAt });
                if (!dispatchedAt) followOn = true;
                const { id, createdAt } = inserted!;
                await this.runProjections({ id, topic, payload, actorId, createdAt }, ctx);
              },
              afterCommit: (h) => eventHooks.push(h),
            };
            for (const projection of projections) await projection.handler(event, ctx);
            for (const sub of subscribers) await sub.handler(event, ctx);
          });
          hooks.push(...eventHooks);
          delivered.push(row.id);
        } catch (err) {
          const attempts = row.attempts + 1;
          const giveUp = attempts >= MAX_ATTEMPTS;
          this.logger.error(
            { err, eventId: row.id, topic: row.topic, attempts, giveUp },
            'outbox subscriber failed',
          );
          await tx
            .update(outboxEvents)
            .set({
              attempts,
              lastError: String((err as Error).message ?? err).slice(0, 1000),
              nextAttemptAt: new Date(this.clock.now().getTime() + 1000 * 2 ** Math.min(attempts, 10)),
              ...(giveUp ? { dispatchedAt: this.clock.now() } : {}),
            })
            .where(eq(outboxEvents.id, row.id));
        }
      }
      if (!subscribed) {
        // Nothing but bookkeeping in this transaction: should a crash of PostgreSQL lose its commit, the events
        // are marked again by the next pass, and they have no subscriber to run twice. Not waiting for the flush
        // keeps an fsync per batch off the disk that acknowledges messages.
        await tx.execute(sql`set local synchronous_commit = off`);
      }
      if (delivered.length > 0) {
        await tx
          .update(outboxEvents)
          .set({
            dispatchedAt: this.clock.now(),
            attempts: sql`${outboxEvents.attempts} + 1`,
            lastError: null,
          })
          .where(inArray(outboxEvents.id, delivered));
      }
      return rows.length;
    });
    await runHooks(hooks, this.logger);
    // Events a subscriber published (a ban's places in the group's events, a deleted group's cancellations) are
    // delivered at once, not at the next poll: their own subscribers (notifications) should not wait for it.
    if (followOn) {
      this.published = true;
      this.kick();
    }
    return claimed;
  }

  private async runProjections(event: DomainEvent, ctx: TxContext): Promise<void> {
    for (const projection of matching(this.projections, event.topic)) await projection.handler(event, ctx);
  }

  /** Deletes delivered events past the retention period (run by a daily cron job). */
  async prune(): Promise<number> {
    const cutoff = new Date(this.clock.now().getTime() - this.opts.retentionDays * 86_400_000);
    const deleted = await this.database.db
      .delete(outboxEvents)
      .where(lt(outboxEvents.dispatchedAt, cutoff))
      .returning({ id: outboxEvents.id });
    return deleted.length;
  }
}

function matching(subscriptions: Subscription[], topic: string): Subscription[] {
  return subscriptions.filter((s) => s.topics === '*' || s.topics.has(topic));
}

function subscription<K extends DomainTopic>(
  name: string,
  topics: K[] | '*',
  handler: Handler<K>,
): Subscription {
  return {
    name,
    topics: topics === '*' ? '*' : new Set(topics),
    handler: handler as unknown as Handler<DomainTopic>,
  };
}

async function runHooks(hooks: (() => void | Promise<void>)[], logger: Logger): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (err) {
      logger.warn({ err }, 'post-commit hook failed');
    }
  }
}
