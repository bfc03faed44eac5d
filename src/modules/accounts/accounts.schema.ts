import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/**
 * People. Phone numbers are stored encrypted (AES-GCM) with a keyed hash for lookups; nothing here is ever
 * serialized whole: responses go through presenters that pick fields per viewer.
 */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    nickname: text('nickname').notNull(),
    email: text('email'),
    emailVerified: boolean('email_verified').notNull().default(false),
    phoneEnc: text('phone_enc'),
    phoneHash: text('phone_hash'),
    passwordHash: text('password_hash'),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    bio: text('bio'),
    statusMessage: text('status_message'),
    interests: text('interests')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    mood: text('mood'),
    preferredRegion: text('preferred_region'),
    preferredDistanceKm: smallint('preferred_distance_km'),
    level: smallint('level'),
    smsConsent: boolean('sms_consent').notNull().default(false),
    avatarUrl: text('avatar_url'),
    avatarMediaId: uuid('avatar_media_id'),
    needsOnboarding: boolean('needs_onboarding').notNull().default(false),
    /**
     * Access tokens issued before this instant are rejected (log out everywhere, account deletion). A new account
     * has nothing to reject: the epoch, not the database's now(), which a node whose clock runs behind the
     * database's would find later than the tokens it issues at sign-up.
     */
    tokensValidAfter: timestamp('tokens_valid_after', { withTimezone: true })
      .notNull()
      .default(sql`'epoch'`),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    /** Soft deletion: restorable until `purge_after`, then personal data is erased by the purge job. */
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    purgeAfter: timestamp('purge_after', { withTimezone: true }),
    purgedAt: timestamp('purged_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('users_nickname_key').on(sql`lower(${t.nickname})`),
    uniqueIndex('users_email_key')
      .on(sql`lower(${t.email})`)
      .where(sql`${t.email} is not null`),
    uniqueIndex('users_phone_hash_key')
      .on(t.phoneHash)
      .where(sql`${t.phoneHash} is not null`),
    index('users_purge_idx')
      .on(t.purgeAfter)
      .where(sql`${t.deletedAt} is not null and ${t.purgedAt} is null`),
    check('users_level_check', sql`${t.level} between 0 and 4`),
  ],
);

/** A social login bound to a user, keyed by (provider, the provider's user id); never matched by email. */
export const userIdentities = pgTable(
  'user_identities',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    provider: text('provider', { enum: ['kakao', 'naver', 'google'] }).notNull(),
    providerUserId: text('provider_user_id').notNull(),
    email: text('email'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('user_identities_provider_key').on(t.provider, t.providerUserId),
    uniqueIndex('user_identities_user_provider_key').on(t.userId, t.provider),
  ],
);

/** One signed-in device. Its refresh tokens form one rotation family. */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    deviceName: text('device_name'),
    userAgent: text('user_agent'),
    ip: text('ip'),
    method: text('method').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull().defaultNow(),
    /** Absolute expiry, however active the session is. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokeReason: text('revoke_reason'),
  },
  (t) => [
    index('sessions_user_idx')
      .on(t.userId)
      .where(sql`${t.revokedAt} is null`),
  ],
);

/**
 * Opaque refresh tokens, stored as SHA-256 hashes. Each use consumes the token and creates its child; the
 * child's raw value is kept encrypted on the parent for the grace window only, so a client that lost the
 * response can retry with the parent and receive the same child.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    parentId: uuid('parent_id'),
    createdAt: createdAt(),
    /** Idle expiry: unused for this long, the token (and so the session) is dead. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    childId: uuid('child_id'),
    childTokenEnc: text('child_token_enc'),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash),
    index('refresh_tokens_session_idx').on(t.sessionId),
  ],
);

/**
 * One-time codes sent by SMS or mail, bound to the target (phone or email, by keyed hash) and a purpose. The
 * code is stored as a keyed hash; `attempts` is incremented before any comparison, in the same statement that
 * checks it, so concurrent guesses cannot exceed the limit.
 */
export const verificationChallenges = pgTable(
  'verification_challenges',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channel: text('channel', { enum: ['sms', 'email'] }).notNull(),
    targetHash: text('target_hash').notNull(),
    purpose: text('purpose', { enum: ['signup', 'login', 'reset', 'change_phone'] }).notNull(),
    codeHash: text('code_hash').notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    verifiedAt: timestamp('verified_at', { withTimezone: true }),
    /** Set when the proof of verification is spent (sign-up, reset, phone change). */
    consumedAt: timestamp('consumed_at', { withTimezone: true }),
    ip: text('ip'),
  },
  (t) => [index('verification_challenges_target_idx').on(t.targetHash, t.purpose, t.createdAt)],
);

/**
 * Every SMS handed to a provider, with its type, for cost tracking. No text and no raw number; the keyed hash of
 * the number is erased when its account is purged.
 */
export const smsMessages = pgTable(
  'sms_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    phoneHash: text('phone_hash'),
    kind: text('kind').notNull(),
    type: text('type', { enum: ['SMS', 'LMS'] }).notNull(),
    provider: text('provider').notNull(),
    bytes: integer('bytes').notNull(),
    status: text('status', { enum: ['sent', 'failed'] }).notNull(),
    providerMessageId: text('provider_message_id'),
    createdAt: createdAt(),
  },
  (t) => [index('sms_messages_created_idx').on(t.createdAt)],
);

/**
 * Short-lived single-use tickets, stored by hash: OAuth `state` (with the PKCE verifier and nonce), the one-time
 * code a browser brings back to the app after social login, and account-restore tickets.
 */
export const authTickets = pgTable(
  'auth_tickets',
  {
    idHash: text('id_hash').primaryKey(),
    kind: text('kind', { enum: ['oauth_state', 'oauth_exchange', 'restore'] }).notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    data: jsonb('data')
      .notNull()
      .default(sql`'{}'::jsonb`),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
  },
  (t) => [index('auth_tickets_expires_idx').on(t.expiresAt)],
);
