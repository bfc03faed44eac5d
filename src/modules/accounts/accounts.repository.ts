import { and, desc, eq, gt, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import { queryRows, runPrepared, type Executor, type PreparedStatement } from '../../infra/db/database.js';
import { AppError } from '../../shared/errors.js';
import {
  authTickets,
  refreshTokens,
  sessions,
  smsMessages,
  userIdentities,
  users,
  verificationChallenges,
} from './accounts.schema.js';

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type IdentityRow = typeof userIdentities.$inferSelect;
export type ChallengeRow = typeof verificationChallenges.$inferSelect;
export type TicketRow = typeof authTickets.$inferSelect;
export type NewUser = typeof users.$inferInsert;

/** Everything a request's authentication needs, in one primary-key lookup. */
export interface AuthState {
  userId: string;
  role: 'user' | 'admin';
  tokensValidAfter: Date;
  deletedAt: Date | null;
  revokedAt: Date | null;
  expiresAt: Date;
}

/** Postgres unique violations name the constraint; that tells which field clashed. */
export function uniqueViolation(err: unknown): string | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const pg = e as { code?: string; constraint?: string };
    if (pg.code === '23505') return pg.constraint ?? '';
  }
  return undefined;
}

/** The conflict a client sees for a clash on one of the unique indexes of `users` (or a check found it first). */
export function conflictFor(constraint: string): AppError {
  if (constraint.includes('nickname')) return new AppError('NICKNAME_TAKEN', 'This nickname is taken.');
  if (constraint.includes('email')) return new AppError('EMAIL_TAKEN', 'An account with this email exists.');
  if (constraint.includes('phone'))
    return new AppError('PHONE_TAKEN', 'An account with this phone number exists.');
  return new AppError('CONFLICT');
}

export class AccountsRepository {
  // users

  async findUserById(db: Executor, id: string): Promise<UserRow | undefined> {
    const [row] = await db.select().from(users).where(eq(users.id, id));
    return row;
  }

  async findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
    const [row] = await db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = ${email.toLowerCase()}`);
    return row;
  }

  async findUserByPhoneHash(db: Executor, phoneHash: string): Promise<UserRow | undefined> {
    const [row] = await db.select().from(users).where(eq(users.phoneHash, phoneHash));
    return row;
  }

  async isNicknameTaken(db: Executor, nickname: string, exceptUserId?: string): Promise<boolean> {
    const [row] = await db
      .select({ id: users.id })
      .from(users)
      .where(
        and(
          sql`lower(${users.nickname}) = ${nickname.toLowerCase()}`,
          exceptUserId ? ne(users.id, exceptUserId) : undefined,
        ),
      )
      .limit(1);
    return row !== undefined;
  }

  async insertUser(db: Executor, user: NewUser): Promise<UserRow> {
    const [row] = await db.insert(users).values(user).returning();
    return row!;
  }

  async updateUser(db: Executor, id: string, patch: Partial<NewUser>): Promise<UserRow | undefined> {
    const [row] = await db
      .update(users)
      .set({ updatedAt: sql`now()`, ...patch })
      .where(eq(users.id, id))
      .returning();
    return row;
  }

  async usersDueForPurge(db: Executor, now: Date, limit: number): Promise<UserRow[]> {
    return db
      .select()
      .from(users)
      .where(and(lt(users.purgeAfter, now), isNull(users.purgedAt), sql`${users.deletedAt} is not null`))
      .limit(limit)
      .for('update', { skipLocked: true });
  }

  // identities

  async findIdentity(
    db: Executor,
    provider: string,
    providerUserId: string,
  ): Promise<IdentityRow | undefined> {
    const [row] = await db
      .select()
      .from(userIdentities)
      .where(
        and(
          eq(userIdentities.provider, provider as IdentityRow['provider']),
          eq(userIdentities.providerUserId, providerUserId),
        ),
      );
    return row;
  }

  async listIdentities(db: Executor, userId: string): Promise<IdentityRow[]> {
    return db.select().from(userIdentities).where(eq(userIdentities.userId, userId));
  }

  async insertIdentity(db: Executor, identity: typeof userIdentities.$inferInsert): Promise<IdentityRow> {
    const [row] = await db.insert(userIdentities).values(identity).returning();
    return row!;
  }

  async deleteIdentity(db: Executor, userId: string, provider: string): Promise<boolean> {
    const rows = await db
      .delete(userIdentities)
      .where(
        and(
          eq(userIdentities.userId, userId),
          eq(userIdentities.provider, provider as IdentityRow['provider']),
        ),
      )
      .returning({ id: userIdentities.id });
    return rows.length > 0;
  }

  async deleteIdentitiesOf(db: Executor, userId: string): Promise<void> {
    await db.delete(userIdentities).where(eq(userIdentities.userId, userId));
  }

  // sessions and refresh tokens

  async insertSession(db: Executor, session: typeof sessions.$inferInsert): Promise<SessionRow> {
    const [row] = await db.insert(sessions).values(session).returning();
    return row!;
  }

  async authState(db: Executor, sessionId: string): Promise<AuthState | undefined> {
    // Every authenticated request and handshake runs this: built once (see runPrepared).
    this.authStateStatement ??= db
      .select({
        userId: users.id,
        role: users.role,
        tokensValidAfter: users.tokensValidAfter,
        deletedAt: users.deletedAt,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sql.placeholder('sessionId')))
      .prepare('accounts_auth_state');
    const [row] = await runPrepared(this.authStateStatement, db, { sessionId });
    return row;
  }
  private authStateStatement: PreparedStatement<AuthState[]> | undefined;

  /**
   * Sessions neither revoked, past their absolute expiry, nor idle since `usedAfter` (a session's last refresh
   * is its last use: the refresh token it holds expires idle-days after that).
   */
  async listActiveSessions(db: Executor, userId: string, now: Date, usedAfter: Date): Promise<SessionRow[]> {
    return db
      .select()
      .from(sessions)
      .where(
        and(
          eq(sessions.userId, userId),
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, now),
          gt(sessions.lastUsedAt, usedAfter),
        ),
      )
      .orderBy(desc(sessions.lastUsedAt));
  }

  async revokeSession(
    db: Executor,
    sessionId: string,
    reason: string,
    now: Date,
  ): Promise<SessionRow | undefined> {
    const [row] = await db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
      .returning();
    return row;
  }

  /** Revokes every live session of a user (optionally but one); returns the revoked ids. */
  async revokeUserSessions(
    db: Executor,
    userId: string,
    reason: string,
    now: Date,
    exceptSessionId?: string,
  ): Promise<string[]> {
    const rows = await db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(
        and(
          eq(sessions.userId, userId),
          isNull(sessions.revokedAt),
          exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
        ),
      )
      .returning({ id: sessions.id });
    return rows.map((r) => r.id);
  }

  async touchSession(db: Executor, sessionId: string, now: Date): Promise<void> {
    await db.update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, sessionId));
  }

  async insertRefreshToken(db: Executor, token: typeof refreshTokens.$inferInsert): Promise<RefreshTokenRow> {
    const [row] = await db.insert(refreshTokens).values(token).returning();
    return row!;
  }

  /**
   * The token and its session, both row-locked: rotation, replay handling and revocation of one session are
   * serialized, so a revocation racing a refresh can never let the refresh win after it.
   */
  async lockRefreshToken(
    db: Executor,
    tokenHash: string,
  ): Promise<{ token: RefreshTokenRow; session: SessionRow } | undefined> {
    const [row] = await db
      .select({ token: refreshTokens, session: sessions })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .for('update');
    return row;
  }

  async findRefreshToken(db: Executor, id: string): Promise<RefreshTokenRow | undefined> {
    const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.id, id));
    return row;
  }

  async markRefreshTokenUsed(
    db: Executor,
    id: string,
    childId: string,
    childTokenEnc: string,
    now: Date,
  ): Promise<void> {
    await db
      .update(refreshTokens)
      .set({ usedAt: now, childId, childTokenEnc })
      .where(eq(refreshTokens.id, id));
    // Only the newest replay secret is ever needed: the grandparent's can go now.
    await db.update(refreshTokens).set({ childTokenEnc: null }).where(eq(refreshTokens.childId, id));
  }

  /** Forgets the raw child tokens kept for the replay grace window, once it has passed. */
  async wipeSpentChildTokens(db: Executor, before: Date): Promise<void> {
    await db
      .update(refreshTokens)
      .set({ childTokenEnc: null })
      .where(and(lt(refreshTokens.usedAt, before), sql`${refreshTokens.childTokenEnc} is not null`));
  }

  /** Deletes sessions that ended before `before` (revoked or expired); their refresh tokens go with them. */
  async deleteDeadSessions(db: Executor, before: Date): Promise<number> {
    const rows = await db
      .delete(sessions)
      .where(or(lt(sessions.revokedAt, before), lt(sessions.expiresAt, before)))
      .returning({ id: sessions.id });
    return rows.length;
  }

  // verification challenges

  async insertChallenge(
    db: Executor,
    challenge: typeof verificationChallenges.$inferInsert,
  ): Promise<ChallengeRow> {
    const [row] = await db.insert(verificationChallenges).values(challenge).returning();
    return row!;
  }

  /**
   * Counts an attempt against the newest live challenge for this target and purpose, in the same statement that
   * checks the limit, and returns what to compare against. Concurrent guesses serialize on the row, so no more
   * than `max_attempts` comparisons can ever happen for one code.
   */
  async claimAttempt(
    db: Executor,
    targetHash: string,
    purpose: ChallengeRow['purpose'],
    now: Date,
  ): Promise<{ id: string; codeHash: string } | undefined> {
    const rows = await queryRows<{ id: string; code_hash: string }>(
      db,
      sql`
        update verification_challenges set attempts = attempts + 1
        where id = (
          select id from verification_challenges
          where target_hash = ${targetHash} and purpose = ${purpose}
          order by created_at desc limit 1
        )
          and attempts < max_attempts and verified_at is null and consumed_at is null and expires_at > ${now}
        returning id, code_hash`,
    );
    const row = rows[0];
    return row ? { id: row.id, codeHash: row.code_hash } : undefined;
  }

  async markChallengeVerified(db: Executor, id: string, now: Date): Promise<boolean> {
    const rows = await db
      .update(verificationChallenges)
      .set({ verifiedAt: now })
      .where(and(eq(verificationChallenges.id, id), isNull(verificationChallenges.verifiedAt)))
      .returning({ id: verificationChallenges.id });
    return rows.length > 0;
  }

  /** Spends a verified challenge (the proof of a phone or address) once, within its validity window. */
  async consumeVerifiedChallenge(
    db: Executor,
    id: string,
    targetHash: string,
    purpose: ChallengeRow['purpose'],
    verifiedAfter: Date,
    now: Date,
  ): Promise<boolean> {
    const rows = await db
      .update(verificationChallenges)
      .set({ consumedAt: now })
      .where(
        and(
          eq(verificationChallenges.id, id),
          eq(verificationChallenges.targetHash, targetHash),
          eq(verificationChallenges.purpose, purpose),
          isNull(verificationChallenges.consumedAt),
          gt(verificationChallenges.verifiedAt, verifiedAfter),
        ),
      )
      .returning({ id: verificationChallenges.id });
    return rows.length > 0;
  }

  /** Deletes codes that expired before `before`: past expiry they are neither checkable nor proof of anything. */
  async deleteExpiredChallenges(db: Executor, before: Date): Promise<number> {
    const rows = await db
      .delete(verificationChallenges)
      .where(lt(verificationChallenges.expiresAt, before))
      .returning({ id: verificationChallenges.id });
    return rows.length;
  }

  async recordSms(db: Executor, row: typeof smsMessages.$inferInsert): Promise<void> {
    await db.insert(smsMessages).values(row);
  }

  /**
   * Erases what still ties a purged person's phone or address to records kept for other reasons: the SMS cost
   * records lose their keyed hash (the counts stay), and any code sent to them goes.
   */
  async forgetTargets(db: Executor, targetHashes: string[]): Promise<void> {
    if (targetHashes.length === 0) return;
    await db.update(smsMessages).set({ phoneHash: null }).where(inArray(smsMessages.phoneHash, targetHashes));
    await db.delete(verificationChallenges).where(inArray(verificationChallenges.targetHash, targetHashes));
  }

  // tickets

  async insertTicket(db: Executor, ticket: typeof authTickets.$inferInsert): Promise<void> {
    await db.insert(authTickets).values(ticket);
  }

  /** Uses a ticket exactly once: concurrent redemptions of the same ticket see at most one success. */
  async useTicket(
    db: Executor,
    idHash: string,
    kind: TicketRow['kind'],
    now: Date,
  ): Promise<TicketRow | undefined> {
    const [row] = await db
      .update(authTickets)
      .set({ usedAt: now })
      .where(
        and(
          eq(authTickets.idHash, idHash),
          eq(authTickets.kind, kind),
          isNull(authTickets.usedAt),
          gt(authTickets.expiresAt, now),
        ),
      )
      .returning();
    return row;
  }

  async deleteExpiredTickets(db: Executor, before: Date): Promise<void> {
    await db.delete(authTickets).where(lt(authTickets.expiresAt, before));
  }
}
