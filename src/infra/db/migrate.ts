import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { Db } from './database.js';

export const MIGRATIONS_DIR = path.resolve(fileURLToPath(new URL('../../../migrations', import.meta.url)));

export interface MigrateOptions {
  kind: 'pglite' | 'postgres';
  /** Advisory lock key that serializes the transactional migrations of processes starting together. */
  lockKey: number;
}

/** How often to look again at an index build another process has under way. */
const BUILD_POLL_MS = 1_000;

/**
 * Moim's migration runner, in two phases.
 *
 * 1. The migrations drizzle-kit generates (`migrations/NNNN_*.sql`, listed in `meta/_journal.json`), all pending
 *    ones in one transaction, recorded in `drizzle.__drizzle_migrations` as drizzle's own migrator records them
 *    (databases it migrated carry on). The transaction first takes a transaction-scoped advisory lock and only
 *    then reads what is applied, so processes starting at once apply each migration once, and nothing outlives
 *    the transaction: it holds through a pooler in transaction mode, and leaves no lock behind for phase 2 to
 *    wait on.
 * 2. `migrations/concurrent/*.sql`, in name order, each statement on its own outside any transaction (on PGlite,
 *    which has no concurrent builds, as a plain statement), each file recorded in
 *    `drizzle.moim_concurrent_migrations` once all its statements succeeded. Only two idempotent statements are
 *    accepted, because a file cut short (a crash, a deploy) runs again from its start:
 *    `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name …` and `DROP INDEX CONCURRENTLY IF EXISTS name`.
 *    A concurrent build that died leaves an invalid index under its name, which `IF NOT EXISTS` would take for
 *    done: such an index is dropped and built again. A build another process has under way on the same table
 *    (it shows in `pg_stat_progress_create_index`) is waited for by polling, not by a lock: a build waits for
 *    every transaction older than it, so a process blocked on a lock inside a statement would deadlock with it.
 */
export async function applyMigrations(db: Db, opts: MigrateOptions): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
  const concurrent = readConcurrentMigrations(path.join(MIGRATIONS_DIR, 'concurrent'));

  await db.transaction(async (tx) => {
    if (opts.kind === 'postgres') await tx.execute(sql`select pg_advisory_xact_lock(${opts.lockKey})`);
    await tx.execute(sql`create schema if not exists drizzle`);
    await tx.execute(sql`create table if not exists drizzle.__drizzle_migrations (
      id serial primary key, hash text not null, created_at bigint)`);
    await tx.execute(sql`create table if not exists drizzle.moim_concurrent_migrations (
      name text primary key, applied_at timestamptz not null default now())`);
    const [last] = await rows<{ created_at: string | number }>(
      tx,
      sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
    );
    for (const migration of migrations) {
      if (last && Number(last.created_at) >= migration.folderMillis) continue;
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
      await tx.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
      );
    }
  });

  const applied = new Set(
    (await rows<{ name: string }>(db, sql`select name from drizzle.moim_concurrent_migrations`)).map(
      (r) => r.name,
    ),
  );
  for (const file of concurrent) {
    if (applied.has(file.name)) continue;
    for (const statement of file.statements) {
      if (opts.kind === 'pglite') {
        await db.execute(sql.raw(statement.text.replace(/\s+concurrently\b/i, '')));
      } else if (statement.kind === 'create') {
        await buildIndex(db, statement);
      } else {
        await db.execute(sql.raw(statement.text));
      }
    }
    await db.execute(
      sql`insert into drizzle.moim_concurrent_migrations (name) values (${file.name}) on conflict do nothing`,
    );
  }
}

interface ConcurrentStatement {
  kind: 'create' | 'drop';
  index: string;
  /** The indexed table, for a build. */
  table?: string;
  text: string;
}

const CREATE =
  /^create\s+(?:unique\s+)?index\s+concurrently\s+if\s+not\s+exists\s+"?([a-z_][a-z0-9_]*)"?\s+on\s+(?:only\s+)?"?([a-z_][a-z0-9_]*)"?\s/i;
const DROP = /^drop\s+index\s+concurrently\s+if\s+exists\s+"?([a-z_][a-z0-9_]*)"?\s*;?$/i;

/** The files of the concurrent phase, each checked whole before anything runs: a bad one fails the migration. */
export function readConcurrentMigrations(dir: string): { name: string; statements: ConcurrentStatement[] }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      const statements = text
        .split('--> statement-breakpoint')
        .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
        .filter((s) => s.length > 0)
        .map((s): ConcurrentStatement => {
          const create = CREATE.exec(s);
          if (create) return { kind: 'create', index: create[1]!, table: create[2]!, text: s };
          const drop = DROP.exec(s);
          if (drop) return { kind: 'drop', index: drop[1]!, text: s };
          throw new Error(
            `migrations/concurrent/${file}: only "CREATE INDEX CONCURRENTLY IF NOT EXISTS" and ` +
              `"DROP INDEX CONCURRENTLY IF EXISTS" may run outside the migration transaction, got: ${s.slice(0, 80)}`,
          );
        });
      return { name: path.basename(file, '.sql'), statements };
    });
}

/**
 * Runs a `CREATE INDEX CONCURRENTLY IF NOT EXISTS` until the index is there and valid. While any index build on
 * the table is under way (another process on this same migration, most likely) it waits rather than starting
 * its own: a second build would queue on the table's lock inside a statement, whose snapshot the first build
 * must then outlive, and PostgreSQL would break that deadlock by failing one of them. (Two processes looking at
 * the same instant can still both start; the one that fails stops its start-up, and the next run repairs what it
 * left.) An invalid index left by a build that died is dropped and built again.
 */
async function buildIndex(db: Db, statement: ConcurrentStatement): Promise<void> {
  for (let dropped = 0; ;) {
    const [state] = await rows<{ valid: boolean | null; building: boolean }>(
      db,
      sql`select (select i.indisvalid from pg_class c join pg_index i on i.indexrelid = c.oid
                  where c.relname = ${statement.index} and c.relnamespace = current_schema()::regnamespace) as valid,
                 exists (select 1 from pg_stat_progress_create_index p join pg_class t on t.oid = p.relid
                         where t.relname = ${statement.table} and t.relnamespace = current_schema()::regnamespace)
                   as building`,
    );
    if (state?.valid) return;
    if (state?.building) await new Promise((r) => setTimeout(r, BUILD_POLL_MS));
    else if (state?.valid === null) await db.execute(sql.raw(statement.text));
    else if (++dropped > 3)
      throw new Error(`index ${statement.index} stays invalid after ${dropped - 1} builds`);
    else await db.execute(sql.raw(`drop index concurrently if exists "${statement.index}"`));
  }
}

async function rows<T>(exec: Pick<Db, 'execute'>, query: SQL): Promise<T[]> {
  const result: unknown = await exec.execute(query);
  return (result as { rows: T[] }).rows;
}
