import PgBoss from 'pg-boss';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Database, Executor } from '../db/database.js';
import type { Logger } from '../logger.js';

/**
 * A job type, declared once per module: its name, payload schema and delivery policy. Payloads are checked when
 * sent and again when received, so a job written by an older version of the code fails loudly, not silently.
 */
export interface JobDefinition<S extends TSchema = TSchema> {
  name: string;
  payload: S;
  retryLimit?: number;
  retryDelaySeconds?: number;
  retryBackoff?: boolean;
  expireInSeconds?: number;
  /**
   * pg-boss queue policy: `standard` (default), `short` (one queued job per singleton key), `singleton` (one
   * running per key) or `stately` (at most one queued and one running per key).
   */
  policy?: 'standard' | 'short' | 'singleton' | 'stately';
  singletonKey?: (payload: Static<S>) => string;
}

export function defineJob<S extends TSchema>(def: JobDefinition<S>): JobDefinition<S> {
  return def;
}

/** A schedule declared in code; the scheduler enqueues `job` (with an empty payload) at each tick. */
export interface CronDefinition {
  job: JobDefinition;
  /** Five-field cron expression, evaluated in the configured TIME_ZONE. */
  cron: string;
}

export type JobHandler<S extends TSchema> = (
  payload: Static<S>,
  meta: { id: string; retryCount: number },
) => Promise<void>;

export interface SendOptions {
  /** Enqueue inside this transaction: the job exists only if it commits. */
  tx?: Executor;
  startAfter?: Date;
  singletonKey?: string;
}

export class JobPayloadError extends Error {}

interface Registered {
  def: JobDefinition;
  handler: JobHandler<TSchema>;
}

/** The job queue port over pg-boss, on PGlite or PostgreSQL alike. */
export class JobQueue {
  private boss: PgBoss | undefined;
  private readonly handlers = new Map<string, Registered>();
  private readonly definitions = new Map<string, JobDefinition>();
  private readonly crons: CronDefinition[] = [];
  private readonly checkers = new Map<string, ReturnType<typeof Compile>>();
  private started = false;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly opts: { timeZone: string; pollingIntervalSeconds?: number },
  ) {}

  private get pgBoss(): PgBoss {
    if (!this.boss) throw new Error('The job queue is not started');
    return this.boss;
  }

  define(def: JobDefinition): void {
    this.definitions.set(def.name, def);
    this.checkers.set(def.name, Compile(def.payload));
  }

  /** Registers the handler of a job type; workers run it once `start({ work: true })` is called. */
  handle<S extends TSchema>(def: JobDefinition<S>, handler: JobHandler<S>): void {
    this.define(def);
    this.handlers.set(def.name, { def, handler: handler });
  }

  schedule(cron: CronDefinition): void {
    this.define(cron.job);
    this.crons.push(cron);
  }

  /**
   * Starts the queue. With `work`, this process also runs the handlers and the cron scheduler; without it, it
   * only enqueues (an API node when a separate `moim worker` runs the jobs).
   */
  async start({ work }: { work: boolean }): Promise<void> {
    if (this.started) return;
    const boss = new PgBoss({
      ...this.database.jobsConnection,
      schema: 'pgboss',
      supervise: work,
      schedule: work,
      // Completed and failed jobs are kept a week for inspection, then removed by pg-boss maintenance.
      deleteAfterDays: 7,
    });
    boss.on('error', (err) => this.logger.error({ err }, 'job queue error'));
    await boss.start();
    this.boss = boss;
    this.started = true;
    for (const def of this.definitions.values()) {
      await boss.createQueue(def.name, {
        name: def.name,
        policy: def.policy ?? 'standard',
        retryLimit: def.retryLimit ?? 3,
        retryDelay: def.retryDelaySeconds ?? 30,
        retryBackoff: def.retryBackoff ?? true,
        expireInSeconds: def.expireInSeconds ?? 15 * 60,
      });
    }
    if (!work) return;
    for (const { def } of this.handlers.values()) {
      await boss.work(
        def.name,
        {
          batchSize: 20,
          pollingIntervalSeconds: this.opts.pollingIntervalSeconds ?? 2,
          includeMetadata: true,
        },
        (jobs) => this.runBatch(def.name, jobs as PgBoss.JobWithMetadata<object>[]),
      );
    }
    for (const cron of this.crons) {
      await boss.schedule(cron.job.name, cron.cron, {}, { tz: this.opts.timeZone });
    }
  }

  async send<S extends TSchema>(
    def: JobDefinition<S>,
    payload: Static<S>,
    opts: SendOptions = {},
  ): Promise<string | null> {
    this.assertPayload(def.name, payload);
    const singletonKey = opts.singletonKey ?? def.singletonKey?.(payload);
    return this.pgBoss.send(def.name, payload as object, {
      ...(opts.tx ? { db: this.database.sqlExecutor(opts.tx) } : {}),
      ...(opts.startAfter ? { startAfter: opts.startAfter } : {}),
      ...(singletonKey ? { singletonKey } : {}),
    });
  }

  /**
   * Runs every job that is due now, in this process, until none is left. Tests use it so they need not wait
   * for polling.
   */
  async runDue(names?: string[]): Promise<number> {
    let ran = 0;
    for (const name of names ?? [...this.handlers.keys()]) {
      for (;;) {
        const jobs = await this.pgBoss.fetch<object>(name, { batchSize: 50, includeMetadata: true });
        if (!jobs || jobs.length === 0) break;
        await this.runBatch(name, jobs);
        ran += jobs.length;
      }
    }
    return ran;
  }

  async stop(timeoutMs: number): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.boss?.stop({ graceful: true, wait: true, close: true, timeout: timeoutMs });
    this.boss = undefined;
  }

  async ping(): Promise<void> {
    await this.pgBoss.getQueue(this.definitions.keys().next().value ?? '__none__');
  }

  private assertPayload(name: string, payload: unknown): void {
    const checker = this.checkers.get(name);
    if (!checker) throw new Error(`Job ${name} is not defined`);
    if (!checker.Check(payload)) {
      const first = checker.Errors(payload)[0];
      throw new JobPayloadError(
        `Invalid payload for job ${name}: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      );
    }
  }

  private async runBatch(name: string, jobs: PgBoss.JobWithMetadata<object>[]): Promise<void> {
    const registered = this.handlers.get(name);
    if (!registered) throw new Error(`No handler for job ${name}`);
    for (const job of jobs) {
      try {
        this.assertPayload(name, job.data);
        await registered.handler(job.data, { id: job.id, retryCount: job.retryCount });
        await this.pgBoss.complete(name, job.id);
      } catch (err) {
        this.logger.error({ err, job: name, jobId: job.id, retryCount: job.retryCount }, 'job failed');
        await this.pgBoss.fail(name, job.id, { message: String((err as Error).message ?? err) });
      }
    }
  }
}
