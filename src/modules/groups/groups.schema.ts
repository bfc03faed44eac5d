import { sql } from 'drizzle-orm';
import {
  check,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

export const GROUP_KINDS = ['family', 'crew', 'club', 'other'] as const;
export const GROUP_ROLES = ['owner', 'admin', 'member'] as const;
export const JOIN_POLICIES = ['open', 'approval', 'invite_only'] as const;
export type GroupRole = (typeof GROUP_ROLES)[number];

/**
 * A lasting community: a family, a running crew, a club. `member_count` is recounted from the member rows in the
 * same transaction that changes them, under a lock on this row, so it is exact and the cap holds under any
 * concurrency. Deletion is soft: the row stays (events and conversations point at it) and reads answer 404.
 */
export const groups = pgTable(
  'groups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    description: text('description'),
    kind: text('kind', { enum: GROUP_KINDS }).notNull().default('other'),
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    region: text('region'),
    lat: doublePrecision('lat'),
    lng: doublePrecision('lng'),
    visibility: text('visibility', { enum: ['public', 'private'] })
      .notNull()
      .default('public'),
    joinPolicy: text('join_policy', { enum: JOIN_POLICIES }).notNull().default('open'),
    /** Most members the group may have, the owner included; null means no limit. */
    memberCap: integer('member_cap'),
    memberCount: integer('member_count').notNull().default(1),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    index('groups_public_idx')
      .on(t.createdAt, t.id)
      .where(sql`${t.visibility} = 'public' and ${t.deletedAt} is null`),
    index('groups_owner_idx').on(t.ownerId),
    index('groups_name_trgm_idx').using('gin', sql`${t.name} gin_trgm_ops`),
    index('groups_tags_idx').using('gin', t.tags),
    check('groups_point_check', sql`(${t.lat} is null) = (${t.lng} is null)`),
    check('groups_cap_check', sql`${t.memberCap} is null or ${t.memberCap} >= 2`),
    check(
      'groups_count_check',
      sql`${t.memberCount} >= 0 and (${t.memberCap} is null or ${t.memberCount} <= ${t.memberCap})`,
    ),
  ],
);

/** Current members only: leaving or removal deletes the row (a ban is kept in `group_bans`). */
export const groupMembers = pgTable(
  'group_members',
  {
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    role: text('role', { enum: GROUP_ROLES }).notNull().default('member'),
    /** What the member is called inside this group, e.g. "Mom" in a family; unique within the group. */
    displayName: text('display_name'),
    joinedAt: ts('joined_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.groupId, t.userId] }),
    index('group_members_user_idx').on(t.userId),
    index('group_members_order_idx').on(t.groupId, t.joinedAt, t.userId),
    uniqueIndex('group_members_display_name_key')
      .on(t.groupId, sql`lower(${t.displayName})`)
      .where(sql`${t.displayName} is not null`),
    // One owner per group, whatever races happen between transfers.
    uniqueIndex('group_members_owner_key')
      .on(t.groupId)
      .where(sql`${t.role} = 'owner'`),
  ],
);

/** People a group's admins banned: they cannot join, be invited or use an invite link until unbanned. */
export const groupBans = pgTable(
  'group_bans',
  {
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    bannedBy: uuid('banned_by').references(() => users.id),
    reason: text('reason'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  // By person too: discovery leaves out the events of groups that banned the viewer.
  (t) => [primaryKey({ columns: [t.groupId, t.userId] }), index('group_bans_user_idx').on(t.userId)],
);

/** Asking to join a group whose join policy is `approval`; at most one pending per (group, person). */
export const groupJoinRequests = pgTable(
  'group_join_requests',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    message: text('message'),
    status: text('status', { enum: ['pending', 'approved', 'rejected', 'cancelled'] })
      .notNull()
      .default('pending'),
    decidedBy: uuid('decided_by').references(() => users.id),
    createdAt: ts('created_at').notNull().defaultNow(),
    decidedAt: ts('decided_at'),
  },
  (t) => [
    uniqueIndex('group_join_requests_pending_key')
      .on(t.groupId, t.userId)
      .where(sql`${t.status} = 'pending'`),
    index('group_join_requests_user_idx').on(t.userId, t.status),
  ],
);

/**
 * An invitation to one person. By user id, `invitee_id` is set. By phone or email, `contact_hash` (keyed hash)
 * dedups and `contact_hint` (masked) is what the inviter sees; `invitee_id` is set only when the contact belongs
 * to someone who may be invited, which the inviter is never told, so the lookup reveals nothing.
 */
export const groupInvitations = pgTable(
  'group_invitations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    inviterId: uuid('inviter_id')
      .notNull()
      .references(() => users.id),
    inviteeId: uuid('invitee_id').references(() => users.id),
    via: text('via', { enum: ['user', 'phone', 'email'] }).notNull(),
    contactHash: text('contact_hash'),
    contactHint: text('contact_hint'),
    status: text('status', { enum: ['pending', 'accepted', 'rejected', 'cancelled'] })
      .notNull()
      .default('pending'),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    respondedAt: ts('responded_at'),
  },
  (t) => [
    uniqueIndex('group_invitations_pending_key')
      .on(t.groupId, t.inviteeId)
      .where(sql`${t.status} = 'pending' and ${t.inviteeId} is not null`),
    uniqueIndex('group_invitations_contact_key')
      .on(t.groupId, t.contactHash)
      .where(sql`${t.status} = 'pending' and ${t.contactHash} is not null`),
    index('group_invitations_invitee_idx').on(t.inviteeId, t.status),
    index('group_invitations_group_idx').on(t.groupId, t.status),
  ],
);

/** A shareable link: a random secret (only its SHA-256 is stored), an expiry, a use limit, revocable. */
export const groupInviteLinks = pgTable(
  'group_invite_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id),
    tokenHash: text('token_hash').notNull(),
    expiresAt: ts('expires_at').notNull(),
    maxUses: integer('max_uses'),
    uses: integer('uses').notNull().default(0),
    revokedAt: ts('revoked_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('group_invite_links_token_key').on(t.tokenHash),
    index('group_invite_links_group_idx').on(t.groupId),
    check('group_invite_links_uses_check', sql`${t.maxUses} is null or ${t.uses} <= ${t.maxUses}`),
  ],
);
