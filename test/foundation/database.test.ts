import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows, runPrepared } from '../../src/infra/db/database.js';
import { DataDirLockedError } from '../../src/infra/db/pglite-lock.js';
import { outboxEvents } from '../../src/infra/outbox/outbox.schema.js';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';

describe('database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it(`runs on ${servicesMode ? 'PostgreSQL' : 'PGlite'} with the geo and trigram extensions`, async () => {
    expect(t.infra.database.kind).toBe(servicesMode ? 'postgres' : 'pglite');
    const rows = await queryRows<{ extname: string }>(
      t.infra.database.db,
      sql`select extname from pg_extension where extname in ('cube','earthdistance','pg_trgm','btree_gist') order by 1`,
    );
    expect(rows.map((r) => r.extname)).toEqual(['btree_gist', 'cube', 'earthdistance', 'pg_trgm']);
    const [dist] = await queryRows<{ m: string }>(
      t.infra.database.db,
      sql`select round(earth_distance(ll_to_earth(37.5665, 126.978), ll_to_earth(35.1796, 129.0756))) as m`,
    );
    expect(Number(dist?.m)).toBeGreaterThan(320_000);
  });

  it('migrating twice is a no-op', async () => {
    const count = async () =>
      (
        await queryRows<{ n: number }>(
          t.infra.database.db,
          sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
        )
      )[0]?.n;
    const before = await count();
    expect(before).toBeGreaterThan(0);
    await t.infra.database.migrate();
    await t.infra.database.migrate();
    expect(await count()).toBe(before);
  });

  it('a transaction that throws leaves nothing behind', async () => {
    await expect(
      t.infra.database.transaction(async (tx) => {
        await tx.insert(outboxEvents).values({ topic: 'system.probe', payload: { note: 'rolled back' } });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [row] = await queryRows<{ n: number }>(
      t.infra.database.db,
      sql`select count(*)::int as n from outbox_events where payload->>'note' = 'rolled back'`,
    );
    expect(row?.n).toBe(0);
  });

  it.runIf(servicesMode)('PostgreSQL runs with durable commits', async () => {
    for (const setting of ['synchronous_commit', 'fsync', 'full_page_writes']) {
      const [res] = await queryRows<Record<string, string>>(t.infra.database.db, sql.raw(`show ${setting}`));
      expect(Object.values(res ?? {})[0], setting).toBe('on');
    }
  });
});

/**
 * DATABASE_PREPARED_STATEMENTS=false, for a pooler in transaction mode: the statements Moim names (`queryRows`
 * with a name, drizzle's `.prepare(name)` run through `runPrepared`) still run and answer the same, but leave no
 * prepared statement on the server connection for the next transaction to miss on another one.
 */
describe.runIf(servicesMode)('named prepared statements (PostgreSQL)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  for (const preparedStatements of [true, false]) {
    it(`with DATABASE_PREPARED_STATEMENTS=${preparedStatements}`, async () => {
      const database = await openDatabase({ url: t.databaseUrl!, poolMax: 2, preparedStatements });
      try {
        const [event] = await database.db
          .insert(outboxEvents)
          .values({ topic: 'system.probe', payload: { note: 'prepared' } })
          .returning({ id: outboxEvents.id });
        const byId = database.db
          .select({ topic: outboxEvents.topic })
          .from(outboxEvents)
          .where(eq(outboxEvents.id, sql.placeholder('id')))
          .prepare('probe_outbox_by_id');
        // One transaction: one server connection, whose prepared statements are then listed.
        const names = await database.transaction(async (tx) => {
          for (let i = 1; i <= 2; i++) {
            const [sum] = await queryRows<{ n: number }>(tx, sql`select ${i}::int + 1 as n`, 'probe_sum');
            expect(sum?.n).toBe(i + 1);
            expect(await runPrepared(byId, tx, { id: event!.id })).toEqual([{ topic: 'system.probe' }]);
          }
          const rows = await queryRows<{ name: string }>(
            tx,
            sql`select name from pg_prepared_statements where name like 'probe_%' order by name`,
          );
          return rows.map((r) => r.name);
        });
        if (preparedStatements)
          expect(names).toEqual(['probe_outbox_by_id', expect.stringMatching(/^probe_sum_\d+$/)]);
        else expect(names).toEqual([]);
      } finally {
        await database.close();
      }
    });
  }
});

describe('embedded database directory', () => {
  it('refuses a second opener of the same data directory at once', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-lock-'));
    const first = await openDatabase({ pgliteDir: path.join(dir, 'pglite') });
    try {
      const started = Date.now();
      await expect(openDatabase({ pgliteDir: path.join(dir, 'pglite') })).rejects.toBeInstanceOf(
        DataDirLockedError,
      );
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await first.close();
    }
    // Released on close: it opens again.
    const again = await openDatabase({ pgliteDir: path.join(dir, 'pglite') });
    await again.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('takes over a lock left by a process that no longer exists', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-lock-'));
    await fs.writeFile(path.join(dir, 'moim.lock'), '999999');
    const db = await openDatabase({ pgliteDir: path.join(dir, 'pglite') });
    await db.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
});
