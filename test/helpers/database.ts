import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/infra/db/database.js';
import { JobQueue } from '../../src/infra/jobs/job-queue.js';
import { createLogger } from '../../src/infra/logger.js';

/**
 * Each test file gets a database of its own, copied from a template migrated once per run: a PGlite data-dir
 * dump in embedded mode, a `CREATE DATABASE ... TEMPLATE` in services mode (DATABASE_URL set).
 */
export type TemplateRef = { kind: 'pglite'; file: string } | { kind: 'postgres'; url: string; name: string };

const RUN_PREFIX = 'moim_t_';

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function installSchemas(database: Database): Promise<void> {
  await database.migrate();
  // pg-boss creates its own schema on first start; doing it once here keeps every test file's start fast.
  const jobs = new JobQueue(database, createLogger({ log: { level: 'silent', pretty: false } }), {
    timeZone: 'Asia/Seoul',
  });
  await jobs.start({ work: false });
  await jobs.stop(1_000);
}

export async function createTemplate(dir: string): Promise<TemplateRef> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const database = await openDatabase({ pgliteDir: 'memory://' });
    await installSchemas(database);
    const dump = await database.exportDataDir!();
    await database.close();
    const file = `${dir}/template.tar.gz`;
    await fs.writeFile(file, Buffer.from(await dump.arrayBuffer()));
    return { kind: 'pglite', file };
  }
  const name = `${RUN_PREFIX}tpl_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const database = await openDatabase({ url: withDatabase(url, name), poolMax: 2 });
  try {
    await installSchemas(database);
  } finally {
    await database.close();
  }
  return { kind: 'postgres', url, name };
}

export async function dropTestDatabases(template: TemplateRef): Promise<void> {
  if (template.kind !== 'postgres') return;
  const admin = new pg.Client({ connectionString: template.url });
  await admin.connect();
  try {
    const suffix = template.name.slice(`${RUN_PREFIX}tpl_`.length);
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`,
      [`${RUN_PREFIX}${suffix}_%`, template.name],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** A fresh database for one test file (or one simulated node group), copied from the template. */
export async function openTestDatabase(template: TemplateRef): Promise<{ database: Database; url?: string }> {
  if (template.kind === 'pglite') {
    const data = await fs.readFile(template.file);
    const database = await openDatabase({ pgliteDir: 'memory://', loadDataDir: new Blob([data]) });
    return { database };
  }
  const suffix = template.name.slice(`${RUN_PREFIX}tpl_`.length);
  const name = `${RUN_PREFIX}${suffix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: template.url });
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template.name}`);
        break;
      } catch (err) {
        // Two files copying the template at the same instant can collide; try again shortly.
        if (attempt >= 10 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  const url = withDatabase(template.url, name);
  return { database: await openDatabase({ url, poolMax: 10 }), url };
}
