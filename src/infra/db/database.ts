import { randomInt } from 'node:crypto';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { cube } from '@electric-sql/pglite/contrib/cube';
import { earthdistance } from '@electric-sql/pglite/contrib/earthdistance';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { PgDialect, PgTransaction, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import pg from 'pg';
import { applyMigrations } from './migrate.js';
import { lockDataDir, type DirLock } from './pglite-lock.js';
import * as schema from './schema.js';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a repository can run a query on: the database, or an open transaction. */
export type Executor = Db | Tx;

/** The same extensions must be loaded every time a PGlite directory is opened. */
const PGLITE_EXTENSIONS = { cube, earthdistance, pg_trgm, btree_gist };

/** Executes raw SQL with `$n` parameters; pg-boss takes this to enqueue jobs inside our transactions. */
export interface SqlExecutor {
  executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  /**
   * Runs `fn` in one transaction. On PostgreSQL a serialization failure or deadlock is retried a few times, so
   * `fn` must not have side effects outside the transaction (publish them through the outbox instead).
   */
  transaction<T>(
    fn: (tx: Tx) => Promise<T>,
    opts?: { isolationLevel?: 'read committed' | 'serializable' },
  ): Promise<T>;
  /** A raw executor for libraries (pg-boss) that speak SQL text, bound to `tx` when given. */
  sqlExecutor(tx?: Executor): SqlExecutor;
  /**
   * Applies the committed SQL migrations, then the index builds that must run outside a transaction (see
   * `applyMigrations`); running it again is a no-op. Nodes that start at the same moment apply each migration
   * once.
   */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  poolStats(): { total: number; idle: number; waiting: number };
  /** The embedded database's files as one gzipped tarball (backups, test templates); PGlite only. */
  exportDataDir?(): Promise<Blob>;
  close(): Promise<void>;
  /** pg-boss connection settings for this database. */
  readonly jobsConnection: { connectionString: string; max: number } | { db: SqlExecutor };
}

export interface OpenDatabaseOptions {
  /** postgres:// URL; when absent the embedded PGlite is used. */
  url?: string | undefined;
  poolMax?: number;
  /**
   * PostgreSQL: false sends every statement unnamed (see `UnnamedStatementClient`), for a pooler in transaction
   * mode that cannot carry named ones. Default true.
   */
  preparedStatements?: boolean;
  /** PGlite data directory, or `memory://`. */
  pgliteDir?: string;
  /** A PGlite data-dir dump to start from (test template clones). */
  loadDataDir?: Blob;
}

/** Every advisory lock the application takes, in one place so that no two share a key. */
export const ADVISORY_LOCKS = {
  migrations: 727_274,
  /** One node at a time merges the chat search index's pending list (`ChatRepository.sweepSearchIndex`). */
  chatSearchIndexSweep: 727_275,
} as const;
const RETRYABLE_PG_CODES = new Set(['40001', '40P01']);

/** PostgreSQL's SQLSTATE of a failed query, whether the driver's error came bare or wrapped by drizzle. */
export function pgErrorCode(err: unknown): string | undefined {
  return (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
}

/**
 * Runs `fn` again (up to 5 times, after a short random pause) when PostgreSQL aborted it as a deadlock victim or a
 * serialization failure: either way nothing of it was committed, and running it again is the documented remedy.
 * For a transaction, or a single statement that is its own transaction (a server-side function).
 */
export async function retryingConflicts<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = pgErrorCode(err);
      if (attempt >= 5 || !code || !RETRYABLE_PG_CODES.has(code)) throw err;
      await new Promise((r) => setTimeout(r, randomInt(5, 20) * attempt));
    }
  }
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return opts.url
    ? openPostgres(opts.url, opts.poolMax ?? 10, opts.preparedStatements ?? true)
    : openPglite(opts);
}

type DriverClient = { query(t: string, v?: unknown[]): Promise<{ rows: unknown[] }> };

/**
 * The driver client behind a drizzle database or transaction: a PGlite instance or transaction, or a pg pool or
 * pooled client. Both answer `query(text, values)` with `{ rows }`, which is what SQL-speaking libraries need.
 * drizzle keeps it on its (untyped) session; this is the one place that reaches for it.
 */
function clientOf(exec: Executor): DriverClient {
  return (exec as unknown as { session: { client: DriverClient } }).session.client;
}

/**
 * Independent reads, at once where that helps: concurrently on the pool (each on a connection of its own), one
 * after another in a transaction, whose one connection runs one query at a time anyway (overlapping queries on one
 * client are deprecated in node-postgres 8 and refused in 9).
 */
export async function readAll<T extends unknown[]>(
  exec: Executor,
  ...reads: { [K in keyof T]: () => Promise<T[K]> }
): Promise<T> {
  if (!(exec instanceof PgTransaction)) return (await Promise.all(reads.map((read) => read()))) as T;
  const out: unknown[] = [];
  for (const read of reads) out.push(await read());
  return out as T;
}

function executorOn(exec: Executor): SqlExecutor {
  const client = clientOf(exec);
  return {
    async executeSql(text, values) {
      const result = await client.query(text, values);
      return { rows: result.rows };
    },
  };
}

/** A statement drizzle built once: a query ending in `.prepare(name)`, with `sql.placeholder`s for its values. */
export interface PreparedStatement<T> {
  execute(values?: Record<string, unknown>): Promise<T>;
}

/**
 * Runs a statement built once on `exec`, which may be a transaction: drizzle binds a prepared statement to the
 * client it was built on, and this lends it `exec`'s. For the few statements of the hottest path (a chat send):
 * building SQL with drizzle's query builder costs node more CPU than PostgreSQL spends running a simple statement,
 * and a named statement is parsed and planned once per connection instead of every time (unless the database
 * was opened with `preparedStatements: false`: then it runs unnamed).
 */
export function runPrepared<T>(
  statement: PreparedStatement<T>,
  exec: Executor,
  values: Record<string, unknown>,
): Promise<T> {
  const onExec = Object.create(statement, { client: { value: clientOf(exec) } }) as PreparedStatement<T>;
  return onExec.execute(values);
}

async function openPglite(opts: OpenDatabaseOptions): Promise<Database> {
  const dir = opts.pgliteDir ?? 'memory://';
  const persistent = !dir.startsWith('memory://');
  let lock: DirLock | undefined;
  if (persistent) lock = lockDataDir(path.dirname(path.resolve(dir)));
  let client: PGlite;
  try {
    client = await PGlite.create(persistent ? path.resolve(dir) : dir, {
      extensions: PGLITE_EXTENSIONS,
      ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  let closed = false;
  return {
    kind: 'pglite',
    db,
    // PGlite has a single backend: transactions are already serialized, so nothing can conflict or deadlock.
    transaction: (fn) => db.transaction(fn),
    sqlExecutor: (tx) => executorOn(tx ?? db),
    async migrate() {
      await applyMigrations(db, { kind: 'pglite', lockKey: ADVISORY_LOCKS.migrations });
    },
    async ping() {
      await client.query('select 1');
    },
    poolStats: () => ({ total: 1, idle: 1, waiting: 0 }),
    exportDataDir: async () => await client.dumpDataDir('gzip'),
    jobsConnection: {
      db: {
        // pg-boss sends multi-statement scripts without parameters; PGlite's query() rejects those.
        async executeSql(text, values) {
          if (values && values.length > 0) return client.query(text, values);
          const results = await client.exec(text);
          return results.at(-1) ?? { rows: [] };
        },
      },
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
      lock?.release();
    },
  };
}

/**
 * A pg client that sends every statement unnamed. A named statement (`queryRows` with a name, `runPrepared`) is
 * parsed once per server connection and found by name afterwards; a pooler in transaction mode hands the next
 * transaction another server connection, where the name is unknown ("prepared statement … does not exist") or
 * names another text. Unnamed, each statement is parsed with its execution, which any pooler carries. Dropping
 * the name here covers every path, drizzle's included.
 */
class UnnamedStatementClient extends pg.Client {}
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the client as `this` below
const namedQuery = pg.Client.prototype.query;
UnnamedStatementClient.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
  const unnamed =
    config && typeof config === 'object' && 'name' in config && !('submit' in config)
      ? { ...config, name: undefined }
      : config;
  return (namedQuery as (...args: unknown[]) => unknown).call(this, unnamed, ...rest);
} as typeof namedQuery;

async function openPostgres(url: string, poolMax: number, preparedStatements: boolean): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'moim',
    ...(preparedStatements ? {} : { Client: UnnamedStatementClient }),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  let closed = false;
  return {
    kind: 'postgres',
    db,
    transaction: (fn, txOpts) =>
      retryingConflicts(() =>
        db.transaction(fn, txOpts?.isolationLevel ? { isolationLevel: txOpts.isolationLevel } : {}),
      ),
    sqlExecutor: (tx) => executorOn(tx ?? db),
    async migrate() {
      await applyMigrations(db, { kind: 'postgres', lockKey: ADVISORY_LOCKS.migrations });
    },
    async ping() {
      await pool.query('select 1');
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    jobsConnection: { connectionString: url, max: Math.max(2, Math.ceil(poolMax / 3)) },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** Statement names handed out so far, by SQL text; bounded, because each lives on every pooled connection. */
const preparedNames = new Map<string, string>();
const MAX_PREPARED = 64;
const dialect = new PgDialect();

/**
 * Runs raw SQL (geo and search queries drizzle's builder cannot express) and returns typed rows.
 *
 * With a `name`, a hot query is a named prepared statement on PostgreSQL: each connection parses and plans
 * it once, and after five runs PostgreSQL may keep one generic plan instead of planning every request again.
 * The name is suffixed per distinct SQL text (the text changes with the filters given); past `MAX_PREPARED`
 * texts per process, queries run unnamed. PGlite ignores the name, and so does a database opened with
 * `preparedStatements: false` (DATABASE_PREPARED_STATEMENTS).
 */
export async function queryRows<T>(exec: Executor, query: SQL, name?: string): Promise<T[]> {
  if (!name) {
    const result: unknown = await exec.execute(query);
    return (result as { rows: T[] }).rows;
  }
  const built = dialect.sqlToQuery(query);
  let statement = preparedNames.get(built.sql);
  if (!statement && preparedNames.size < MAX_PREPARED) {
    statement = `${name}_${preparedNames.size + 1}`;
    preparedNames.set(built.sql, statement);
  }
  // drizzle names statements only for its query builder; its session (internal, as in `executorOn`) takes a
  // name for raw SQL as well and keeps its result parsing (timestamps as text), so rows look as `execute` gives.
  const session = (
    exec as unknown as {
      session: {
        prepareQuery(
          q: { sql: string; params: unknown[] },
          fields: undefined,
          name: string | undefined,
          arrayMode: boolean,
        ): { execute(): Promise<unknown> };
      };
    }
  ).session;
  const result = await session.prepareQuery(built, undefined, statement, false).execute();
  return (result as { rows: T[] }).rows;
}
