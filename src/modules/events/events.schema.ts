import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';
import { groups } from '../groups/groups.schema.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });
/** A point on the earth as the `cube` extension stores it (x, y, z in metres from the centre). */
const cube = customType<{ data: string; driverData: string }>({ dataType: () => 'cube' });

export const EVENT_KINDS = ['meetup', 'run', 'workout', 'family', 'other'] as const;
export const EVENT_THEMES = ['mountain', 'city', 'riverside', 'beach', 'park', 'track'] as const;
export const PARTICIPANT_STATUSES = [
  'pending',
  'going',
  'waitlisted',
  'cancelled',
  'rejected',
  'kicked',
] as const;
export type ParticipantStatus = (typeof PARTICIPANT_STATUSES)[number];

/**
 * Something that happens at a time and place, in a group or standalone with a host. The seat counters are kept
 * in the same transaction as the participant rows they count, under a lock on this row, so they are exact.
 */
export const events = pgTable(
  'events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id').references(() => groups.id),
    hostId: uuid('host_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind', { enum: EVENT_KINDS }).notNull().default('meetup'),
    title: text('title').notNull(),
    description: text('description'),
    startsAt: ts('starts_at').notNull(),
    endsAt: ts('ends_at').notNull(),
    /** Applications close here; null means at the start. */
    applyDeadline: ts('apply_deadline'),
    placeName: text('place_name'),
    lat: doublePrecision('lat'),
    lng: doublePrecision('lng'),
    region: text('region'),
    /** GeoJSON LineString of the route, [lng, lat] pairs. */
    course: jsonb('course'),
    distanceM: integer('distance_m'),
    paceSecPerKm: integer('pace_sec_per_km'),
    theme: text('theme', { enum: EVENT_THEMES }),
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    bring: text('bring'),
    parking: text('parking'),
    link: text('link'),
    color: text('color'),
    /** Seats including the host's; null means no limit. */
    capacity: integer('capacity'),
    waitlistEnabled: boolean('waitlist_enabled').notNull().default(true),
    requiresApproval: boolean('requires_approval').notNull().default(false),
    visibility: text('visibility', { enum: ['public', 'private'] })
      .notNull()
      .default('public'),
    status: text('status', { enum: ['scheduled', 'cancelled'] })
      .notNull()
      .default('scheduled'),
    /** Set when the host confirms the roster last: no more edits, joins, leaves, kicks or invites. */
    lockedAt: ts('locked_at'),
    goingCount: integer('going_count').notNull().default(1),
    waitlistCount: integer('waitlist_count').notNull().default(0),
    pendingCount: integer('pending_count').notNull().default(0),
    /** Revision number: every edit, cancellation and lock adds one, so calendar apps (iCalendar SEQUENCE) update. */
    sequence: integer('sequence').notNull().default(0),
    likeCount: integer('like_count').notNull().default(0),
    bookmarkCount: integer('bookmark_count').notNull().default(0),
    startingSoonNotifiedAt: ts('starting_soon_notified_at'),
    endedNotifiedAt: ts('ended_notified_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    cancelledAt: ts('cancelled_at'),
    /**
     * Kept by PostgreSQL from lat/lng for discovery: the point on the earth cube, so distance tests and
     * nearest-first ordering read a stored value instead of running trigonometry on every row.
     */
    geo: cube('geo').generatedAlwaysAs(sql`ll_to_earth(lat, lng)::cube`),
    /**
     * Kept by PostgreSQL: the point and the start time as one 4-dimensional box (x, y, z in metres, then the
     * start in seconds × 0.1, so a day weighs about 8.6 km). A GiST index over it finds "within 5 km and this
     * week" by descending the tree on all four at once; an index on (geo, starts_at) narrows by place only.
     * The expression is repeated in discovery.repository.ts (`startsCoordinate`).
     */
    geoTime: cube('geo_time').generatedAlwaysAs(
      sql`cube(ll_to_earth(lat, lng)::cube, extract(epoch from (starts_at - '1970-01-01 00:00:00+00'::timestamptz)) * 0.1)`,
    ),
    /** Kept by PostgreSQL: what keyword search matches, lower-cased once here rather than on every search. */
    searchText: text('search_text').generatedAlwaysAs(
      sql`lower(title || ' ' || coalesce(place_name, '') || ' ' || coalesce(description, ''))`,
    ),
  },
  (t) => [
    index('events_starts_idx').on(t.startsAt),
    index('events_group_idx').on(t.groupId, t.startsAt),
    index('events_host_idx').on(t.hostId, t.startsAt),
    index('events_created_idx').on(t.createdAt, t.id),
    index('events_geo_idx')
      .using('gist', t.geo)
      .where(sql`${t.geo} is not null`),
    // Discovery (src/modules/discovery): keyword search by trigrams, the listing orders of public scheduled
    // events as keysets, place and time of public scheduled events in one 4-D GiST index so a radius + date
    // range reads only the events inside both, and the region filter.
    index('events_search_trgm_idx').using('gin', sql`${t.searchText} gin_trgm_ops`),
    index('events_public_starts_idx')
      .on(t.startsAt, t.id)
      .where(sql`${t.visibility} = 'public' and ${t.status} = 'scheduled'`),
    index('events_public_liked_idx')
      .on(t.likeCount.desc(), t.id.desc())
      .where(sql`${t.visibility} = 'public' and ${t.status} = 'scheduled'`),
    // Covering: it also carries what the map pins and the open-only test read, so those queries are answered
    // from the index alone (index-only scans, where the visibility map allows), not from ~1 heap page per event.
    // drizzle has no INCLUDE clause; the text after the key closes its parenthesis and opens the INCLUDE list.
    index('events_public_geo_time_idx')
      .using(
        'gist',
        sql`${t.geoTime}) include (${t.id}, ${t.lat}, ${t.lng}, ${t.title}, ${t.startsAt}, ${t.goingCount}, ${t.capacity}, ${t.lockedAt}, ${t.applyDeadline}`,
      )
      .where(sql`${t.geoTime} is not null and ${t.visibility} = 'public' and ${t.status} = 'scheduled'`),
    index('events_region_idx').on(t.region, t.startsAt),
    index('events_tags_idx').using('gin', t.tags),
    index('events_reminders_idx')
      .on(t.startsAt)
      .where(sql`${t.status} = 'scheduled' and ${t.startingSoonNotifiedAt} is null`),
    check('events_time_check', sql`${t.endsAt} > ${t.startsAt}`),
    check('events_point_check', sql`(${t.lat} is null) = (${t.lng} is null)`),
    check('events_capacity_check', sql`${t.capacity} is null or ${t.capacity} >= 2`),
    check(
      'events_counts_check',
      sql`${t.goingCount} >= 0 and ${t.waitlistCount} >= 0 and ${t.pendingCount} >= 0 and (${t.capacity} is null or ${t.goingCount} <= ${t.capacity})`,
    ),
  ],
);

/**
 * Who takes part, one row per (event, person) whatever happened: the row moves between statuses, so history
 * (and a kick) is kept. The host has a row too (role host, going).
 */
export const eventParticipants = pgTable(
  'event_participants',
  {
    eventId: uuid('event_id')
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    role: text('role', { enum: ['host', 'participant'] })
      .notNull()
      .default('participant'),
    status: text('status', { enum: PARTICIPANT_STATUSES }).notNull(),
    message: text('message'),
    /** Queue position: the earliest waitlisted is promoted first. */
    waitlistedAt: ts('waitlisted_at'),
    confirmedAt: ts('confirmed_at'),
    attendance: text('attendance', { enum: ['present', 'absent'] }),
    attendanceBy: text('attendance_by', { enum: ['host', 'self'] }),
    attendanceAt: ts('attendance_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.userId] }),
    index('event_participants_user_idx').on(t.userId, t.status),
    index('event_participants_queue_idx')
      .on(t.eventId, t.waitlistedAt)
      .where(sql`${t.status} = 'waitlisted'`),
  ],
);

/** A host's invitation to one person; at most one pending per (event, invitee). */
export const eventInvitations = pgTable(
  'event_invitations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    eventId: uuid('event_id')
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    inviterId: uuid('inviter_id')
      .notNull()
      .references(() => users.id),
    inviteeId: uuid('invitee_id')
      .notNull()
      .references(() => users.id),
    status: text('status', { enum: ['pending', 'accepted', 'rejected', 'cancelled'] })
      .notNull()
      .default('pending'),
    createdAt: ts('created_at').notNull().defaultNow(),
    respondedAt: ts('responded_at'),
  },
  (t) => [
    uniqueIndex('event_invitations_pending_key')
      .on(t.eventId, t.inviteeId)
      .where(sql`${t.status} = 'pending'`),
    index('event_invitations_invitee_idx').on(t.inviteeId, t.status),
  ],
);

/**
 * After an event: attendees rate the host, the host rates attendees. One rating per (event, rater, ratee); the
 * manner score and reason histogram are computed from these rows and attendance alone.
 */
export const eventRatings = pgTable(
  'event_ratings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    eventId: uuid('event_id')
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    raterId: uuid('rater_id')
      .notNull()
      .references(() => users.id),
    rateeId: uuid('ratee_id')
      .notNull()
      .references(() => users.id),
    /** The ratee's role at the event. */
    rateeRole: text('ratee_role', { enum: ['host', 'attendee'] }).notNull(),
    verdict: text('verdict', { enum: ['good', 'bad'] }).notNull(),
    reason: text('reason').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('event_ratings_once_key').on(t.eventId, t.raterId, t.rateeId),
    index('event_ratings_ratee_idx').on(t.rateeId),
  ],
);
