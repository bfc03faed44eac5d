import { randomUUID } from 'node:crypto';
import { count, isNull } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { systemClock } from '../../src/infra/clock.js';
import * as schema from '../../src/infra/db/schema.js';
import { loadKeys } from '../../src/infra/keys.js';
import { AccessTokens } from '../../src/modules/accounts/access-tokens.js';

/**
 * Bench data in bulk. Signing up 10,000 people through the API would spend minutes in argon2 for nothing the
 * benchmarks measure, so people and their sessions are inserted directly (rows as a sign-up leaves them), and
 * access tokens are signed with the server's own key from its data directory by the server's own code. The
 * server still verifies every token at the handshake and checks its session against the database, exactly as for
 * a token it issued itself.
 */

export interface BenchUser {
  userId: string;
  sessionId: string;
  nickname: string;
}

export interface BenchConversation {
  conversationId: string;
  eventId: string;
  members: BenchUser[];
}

const CHUNK = 1_000;

async function withDb<T>(url: string, fn: (db: ReturnType<typeof drizzle<typeof schema>>) => Promise<T>) {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    return await fn(drizzle(pool, { schema }));
  } finally {
    await pool.end();
  }
}

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/** `count` people, each signed in on one device (a live session), as sign-up with email leaves them. */
export async function seedUsers(databaseUrl: string, count: number): Promise<BenchUser[]> {
  const now = Date.now();
  const tag = now.toString(36);
  const users: BenchUser[] = Array.from({ length: count }, (_, i) => ({
    userId: randomUUID(),
    sessionId: randomUUID(),
    nickname: `bench_${tag}_${i}`,
  }));
  // Tokens signed in the same second as the row is written must not count as issued before it.
  const validAfter = new Date(now - 60_000);
  const expiresAt = new Date(now + 30 * 86_400_000);
  await withDb(databaseUrl, async (db) => {
    for (const part of chunks(users)) {
      await db.insert(schema.users).values(
        part.map((u) => ({
          id: u.userId,
          nickname: u.nickname,
          email: `${u.nickname}@bench.invalid`,
          emailVerified: true,
          tokensValidAfter: validAfter,
        })),
      );
      await db.insert(schema.sessions).values(
        part.map((u) => ({
          id: u.sessionId,
          userId: u.userId,
          method: 'password',
          userAgent: 'moim bench',
          ip: '127.0.0.1',
          expiresAt,
        })),
      );
    }
  });
  return users;
}

/**
 * Events of `size` people going (the first one hosting), each with its conversation and members, as the events
 * module and the chat membership subscriber leave them after everyone has joined (without the "joined" system
 * messages, so every conversation starts at sequence 0).
 */
export async function seedEventConversations(
  databaseUrl: string,
  users: BenchUser[],
  size: number,
): Promise<BenchConversation[]> {
  const groups: BenchUser[][] = [];
  for (let i = 0; i + size <= users.length; i += size) groups.push(users.slice(i, i + size));
  const startsAt = new Date(Date.now() + 86_400_000);
  const endsAt = new Date(startsAt.getTime() + 2 * 3_600_000);
  const conversations: BenchConversation[] = groups.map((members) => ({
    conversationId: randomUUID(),
    eventId: randomUUID(),
    members,
  }));
  await withDb(databaseUrl, async (db) => {
    for (const part of chunks(conversations)) {
      await db.insert(schema.events).values(
        part.map((c, i) => ({
          id: c.eventId,
          hostId: c.members[0]!.userId,
          title: `Bench chat ${i}`,
          startsAt,
          endsAt,
          goingCount: c.members.length,
        })),
      );
      await db
        .insert(schema.conversations)
        .values(part.map((c) => ({ id: c.conversationId, kind: 'event' as const, eventId: c.eventId })));
    }
    const participants = conversations.flatMap((c) =>
      c.members.map((m, i) => ({
        eventId: c.eventId,
        userId: m.userId,
        role: i === 0 ? ('host' as const) : ('participant' as const),
        status: 'going' as const,
        confirmedAt: new Date(),
      })),
    );
    for (const part of chunks(participants)) await db.insert(schema.eventParticipants).values(part);
    const members = conversations.flatMap((c) =>
      c.members.map((m, i) => ({
        conversationId: c.conversationId,
        userId: m.userId,
        role: i === 0 ? ('admin' as const) : ('member' as const),
      })),
    );
    for (const part of chunks(members)) await db.insert(schema.conversationMembers).values(part);
  });
  return conversations;
}

/** Each conversation's `last_seq` in the database: every message the server stored. */
export async function storedSeqs(databaseUrl: string, ids: string[]): Promise<Map<string, number>> {
  return withDb(databaseUrl, async (db) => {
    const rows = await db
      .select({ id: schema.conversations.id, lastSeq: schema.conversations.lastSeq })
      .from(schema.conversations);
    const wanted = new Set(ids);
    return new Map(rows.filter((r) => wanted.has(r.id)).map((r) => [r.id, r.lastSeq]));
  });
}

/** Domain events written but not yet handled by the outbox relay: a relay that falls behind shows here. */
export async function outboxBacklog(databaseUrl: string): Promise<number> {
  return withDb(databaseUrl, async (db) => {
    const [row] = await db
      .select({ n: count() })
      .from(schema.outboxEvents)
      .where(isNull(schema.outboxEvents.dispatchedAt));
    return row?.n ?? 0;
  });
}

/**
 * Access tokens for `users`, signed as the server signs them: its configuration (issuer, lifetime) from the same
 * environment, its key from its data directory. Sign them right before connecting: they live 15 minutes.
 */
export async function mintTokens(serverEnv: Record<string, string>, users: BenchUser[]): Promise<string[]> {
  const config = loadConfig(serverEnv);
  const tokens = new AccessTokens(
    loadKeys(config),
    config.http.publicUrl,
    config.auth.accessTokenTtlSeconds,
    systemClock,
  );
  const out: string[] = [];
  for (const u of users) out.push((await tokens.sign(u.userId, u.sessionId)).token);
  return out;
}
