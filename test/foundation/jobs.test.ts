import { sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { defineJob, JobPayloadError } from '../../src/infra/jobs/job-queue.js';
import { outboxEvents } from '../../src/infra/outbox/outbox.schema.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const greetJob = defineJob({
  name: 'test.greet',
  payload: Type.Object({ name: Type.String() }),
  retryLimit: 0,
  policy: 'stately',
  singletonKey: (p) => `greet:${p.name}`,
});

describe('jobs', () => {
  let t: TestApp;
  const handled: string[] = [];
  beforeAll(async () => {
    t = await buildTestApp();
    // A test job type registered after start: stop, register, start again (as a worker would at boot).
    await t.infra.jobs.stop(500);
    t.infra.jobs.handle(greetJob, async ({ name }) => {
      handled.push(name);
    });
    await t.infra.jobs.start({ work: false });
  });
  afterAll(() => t.close());

  it('runs a job enqueued outside a transaction', async () => {
    await t.infra.jobs.send(greetJob, { name: 'plain' });
    await t.infra.jobs.runDue([greetJob.name]);
    expect(handled).toContain('plain');
  });

  it('a job enqueued inside a transaction exists only if the transaction commits', async () => {
    await expect(
      t.infra.database.transaction(async (tx) => {
        await t.infra.jobs.send(greetJob, { name: 'rolled-back' }, { tx });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await t.infra.database.transaction(async (tx) => {
      await t.infra.jobs.send(greetJob, { name: 'committed' }, { tx });
    });
    await t.infra.jobs.runDue([greetJob.name]);
    expect(handled).toContain('committed');
    expect(handled).not.toContain('rolled-back');
  });

  it('deduplicates by singleton key while a job is queued', async () => {
    const a = await t.infra.jobs.send(greetJob, { name: 'once' });
    const b = await t.infra.jobs.send(greetJob, { name: 'once' });
    expect(a).toBeTruthy();
    expect(b).toBeNull();
    await t.infra.jobs.runDue([greetJob.name]);
    expect(handled.filter((n) => n === 'once')).toHaveLength(1);
  });

  it('rejects a payload that does not match the job schema when sent', async () => {
    await expect(t.infra.jobs.send(greetJob, { name: 42 } as never)).rejects.toBeInstanceOf(JobPayloadError);
  });

  it('declares cron schedules in code and registers them when workers start', async () => {
    await t.infra.jobs.stop(500);
    await t.infra.jobs.start({ work: true });
    const rows = await queryRows(t.infra.database.db, sql`select name, cron, timezone from pgboss.schedule`);
    expect(rows).toContainEqual(
      expect.objectContaining({
        name: 'operations.prune-outbox',
        cron: '17 3 * * *',
        timezone: 'Asia/Seoul',
      }),
    );
    await t.infra.jobs.stop(500);
    await t.infra.jobs.start({ work: false });
  });
});

describe('outbox', () => {
  let t: TestApp;
  const delivered: string[] = [];
  let failuresLeft = 0;
  beforeAll(async () => {
    t = await buildTestApp();
    t.infra.outbox.subscribe('test', ['system.probe'], async (event) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('subscriber temporarily broken');
      }
      delivered.push(event.payload.note);
    });
  });
  afterAll(() => t.close());

  it('delivers an event published in a committed unit of work, once', async () => {
    await t.infra.outbox.unitOfWork(async ({ publish }) => {
      await publish('system.probe', { note: 'committed' });
    });
    await t.infra.outbox.drain();
    await t.infra.outbox.drain();
    expect(delivered.filter((n) => n === 'committed')).toHaveLength(1);
  });

  it('delivers nothing for a unit of work that rolled back, and skips its post-commit hooks', async () => {
    let hookRan = false;
    await expect(
      t.infra.outbox.unitOfWork(async ({ publish, afterCommit }) => {
        await publish('system.probe', { note: 'rolled-back' });
        afterCommit(() => {
          hookRan = true;
        });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await t.infra.outbox.drain();
    expect(delivered).not.toContain('rolled-back');
    expect(hookRan).toBe(false);
  });

  it('retries an event whose subscriber failed, with backoff', async () => {
    failuresLeft = 1;
    await t.infra.outbox.unitOfWork(async ({ publish }) => {
      await publish('system.probe', { note: 'retried' });
    });
    await t.infra.outbox.drain();
    expect(delivered).not.toContain('retried');
    await t.infra.database.db.execute(
      sql`update outbox_events set next_attempt_at = now() where dispatched_at is null`,
    );
    await t.infra.outbox.drain();
    expect(delivered).toContain('retried');
    const [row] = await t.infra.database.db
      .select()
      .from(outboxEvents)
      .where(sql`payload->>'note' = 'retried'`);
    expect(row?.attempts).toBe(2);
  });

  it('two relays running at once deliver each event exactly once', async () => {
    for (let i = 0; i < 20; i++) {
      await t.infra.outbox.unitOfWork(async ({ publish }) => {
        await publish('system.probe', { note: `race-${i}` });
      });
    }
    await Promise.all([t.infra.outbox.drain(), t.infra.outbox.drain(), t.infra.outbox.drain()]);
    const race = delivered.filter((n) => n.startsWith('race-'));
    expect(race).toHaveLength(20);
    expect(new Set(race).size).toBe(20);
  });

  it('an event a subscriber publishes is delivered at once, not at the next poll', async () => {
    // A relay that polls once a minute: only its kicks can deliver within the test.
    const slow = await buildTestApp({ outboxPollMs: 60_000 });
    try {
      let chained: (at: number) => void = () => undefined;
      const arrived = new Promise<number>((resolve) => (chained = resolve));
      slow.infra.outbox.subscribe('chain', ['system.probe'], async (event, { publish }) => {
        if (event.payload.note === 'first') await publish('system.probe', { note: 'second' });
        if (event.payload.note === 'second') chained(Date.now());
      });
      await slow.infra.outbox.drain(); // the relay idle: no pass already under way picks the follow-on up
      const start = Date.now();
      await slow.infra.outbox.unitOfWork(async ({ publish }) => {
        await publish('system.probe', { note: 'first' });
      });
      const at = await Promise.race([arrived, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
      expect(at).toBeGreaterThan(0);
      expect(at - start).toBeLessThan(1_000);
    } finally {
      await slow.close();
    }
  });
});

describe('outbox projections', () => {
  let t: TestApp;
  const seen: { note: string; txid: string }[] = [];
  const hooked: string[] = [];
  beforeAll(async () => {
    t = await buildTestApp();
    t.infra.outbox.project('test.projection', ['system.probe'], async (event, { tx, afterCommit }) => {
      if (event.payload.note === 'refused') throw new Error('projection refused');
      const [row] = await queryRows<{ txid: string }>(tx, sql`select txid_current()::text as txid`);
      seen.push({ note: event.payload.note, txid: row!.txid });
      afterCommit(() => {
        hooked.push(event.payload.note);
      });
    });
    t.infra.outbox.subscribe('test.chain', ['system.probe'], async (event, { publish }) => {
      if (event.payload.note === 'cause') await publish('system.probe', { note: 'consequence' });
    });
  });
  afterAll(() => t.close());

  it("run in the publisher's transaction as it publishes, and their hooks before the publisher's call returns", async () => {
    await t.infra.outbox.stop(); // nothing but the publisher can run them
    try {
      const txid = await t.infra.outbox.unitOfWork(async ({ tx, publish }) => {
        await publish('system.probe', { note: 'inline' });
        expect(seen.map((s) => s.note)).toContain('inline');
        const [row] = await queryRows<{ txid: string }>(tx, sql`select txid_current()::text as txid`);
        return row!.txid;
      });
      expect(seen.find((s) => s.note === 'inline')?.txid).toBe(txid);
      expect(hooked).toContain('inline');
    } finally {
      t.infra.outbox.start();
    }
    await t.infra.outbox.drain(); // the relay does not run them again
    expect(seen.filter((s) => s.note === 'inline')).toHaveLength(1);
  });

  it("a failing projection fails the publisher's transaction: nothing of it is written", async () => {
    await expect(
      t.infra.outbox.unitOfWork(async ({ publish }) => {
        await publish('system.probe', { note: 'refused' });
      }),
    ).rejects.toThrow('projection refused');
    const rows = await queryRows<{ n: number }>(
      t.infra.database.db,
      sql`select count(*)::int as n from outbox_events where payload->>'note' = 'refused'`,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('run by the relay for an event written without them (by a node from before projections), once', async () => {
    await t.infra.database.db.execute(
      sql`insert into outbox_events (topic, payload) values ('system.probe', '{"note":"older node"}')`,
    );
    await t.infra.outbox.drain();
    await t.infra.outbox.drain();
    expect(seen.filter((s) => s.note === 'older node')).toHaveLength(1);
    expect(hooked).toContain('older node');
  });

  it("run for an event a subscriber publishes, in the relay's transaction", async () => {
    await t.infra.outbox.unitOfWork(async ({ publish }) => {
      await publish('system.probe', { note: 'cause' });
    });
    await t.infra.outbox.drain();
    expect(seen.map((s) => s.note)).toEqual(expect.arrayContaining(['cause', 'consequence']));
    expect(hooked).toContain('consequence');
  });
});
