import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../src/modules/accounts/accounts.schema.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

/** ASVS 16.2.5: what a failed query carries (bound values, offending keys) never reaches a log line. */
describe('error logging', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('logs a failed query without its parameters or the values PostgreSQL names', async () => {
    const secret = 'very-secret-email@example.com';
    const db = t.infra.database.db;
    const errors: unknown[] = [];
    await db
      .execute(sql`select * from no_such_table where x = ${secret}`)
      .catch((e: unknown) => errors.push(e));
    await db.insert(users).values({ nickname: 'dup_check_1', email: secret });
    await db
      .insert(users)
      .values({ nickname: 'dup_check_2', email: secret })
      .catch((e: unknown) => errors.push(e));
    expect(errors).toHaveLength(2);
    for (const err of errors) t.infra.logger.error({ err }, 'query failed');
    const logged = t.logs.text();
    expect(logged).toContain('query failed');
    expect(logged).toContain('no_such_table');
    expect(logged).not.toContain(secret);
  });
});
