import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import { randomToken, sha256 } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import { enforceRateLimit, rateLimitError, type RateLimiter } from '../../infra/rate-limit/rate-limiter.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import type { GroupDirectory } from '../events/event-access.js';
import { mayHaveGroupFeed, ownsFeed } from './calendar.policy.js';
import type { CalendarEventRow, CalendarRepository, CalendarScope, FeedRow } from './calendar.repository.js';
import { dateTime, raw, serialize, text, type Component, type Property } from './ical.js';

/** The secret part of a feed URL: 32 random bytes, base64url (256 bits). */
const SECRET = /^([A-Za-z0-9_-]{43})\.ics$/;
/** A feed carries at most this many events (a year of a busy group); the earliest first. */
const FEED_LIMIT = 2000;
/** Missed feed secrets one address may try per minute: past it, 429 instead of 404. */
const MISSES = { name: 'calendar:feed:miss', limit: 20, windowMs: 60_000 };

export const PRODID = '-//Moim//Moim Calendar 1.0//EN';

export interface FeedView extends FeedRow {
  /** Only right after creation or rotation: the secret is not kept, so the URL cannot be shown again. */
  url?: string;
}

export interface RenderedFeed {
  body: string;
  etag: string;
}

/**
 * Private iCalendar feeds at secret URLs: a person's own calendar, or a group's calendar as one member sees it.
 * The secret is shown once and stored as a SHA-256; rotation replaces it (the old URL answers 404 at once) and
 * revocation deletes the feed. A feed shows only what its owner may see now: a member who left, a deleted
 * account, a vanished group all answer 404.
 */
export class FeedsService {
  constructor(
    private readonly deps: {
      repo: CalendarRepository;
      db: Executor;
      clock: Clock;
      limiter: RateLimiter;
      groups: GroupDirectory;
      config: Pick<Config, 'timeZone' | 'calendar'> & { publicUrl: string };
    },
  ) {}

  list(actor: Actor): Promise<FeedRow[]> {
    return this.deps.repo.listFeeds(this.deps.db, actor.userId);
  }

  /** One feed per person for their own calendar and one per group they belong to; a second is refused. */
  async create(actor: Actor, input: { groupId?: string }): Promise<FeedView> {
    const { repo, db } = this.deps;
    const groupId = input.groupId ?? null;
    if (groupId !== null) await this.assertMember(groupId, actor.userId);
    const secret = randomToken(32);
    const row = await repo.insertFeed(db, { ownerId: actor.userId, groupId, tokenHash: sha256(secret) });
    if (!row) {
      const existing = await repo.findOwnFeed(db, actor.userId, groupId);
      throw new AppError('CALENDAR_FEED_EXISTS', 'You have this feed already; rotate it for a new URL.', {
        details: { feedId: existing?.id ?? null },
      });
    }
    return { ...row, url: this.url(secret) };
  }

  /** A new secret for the feed; the old URL stops working in the same statement. */
  async rotate(actor: Actor, feedId: string): Promise<FeedView> {
    const feed = await this.owned(actor, feedId);
    if (feed.groupId !== null) await this.assertMember(feed.groupId, actor.userId);
    const secret = randomToken(32);
    const row = await this.deps.repo.rotateFeed(this.deps.db, feed.id, sha256(secret));
    if (!row) throw notFound();
    return { ...row, url: this.url(secret) };
  }

  async revoke(actor: Actor, feedId: string): Promise<void> {
    const feed = await this.owned(actor, feedId);
    await this.deps.repo.deleteFeed(this.deps.db, feed.id);
  }

  /**
   * The feed a URL's file name opens, as iCalendar text with a strong ETag of its bytes. Unknown secrets answer
   * 404 (and count against the caller's address); each feed may be fetched `CALENDAR_FEED_FETCHES_PER_HOUR`
   * times an hour.
   */
  async render(file: string, ip: string): Promise<RenderedFeed> {
    const { repo, db, limiter, groups, clock, config } = this.deps;
    const secret = SECRET.exec(file)?.[1];
    const feed = secret ? await repo.feedByTokenHash(db, sha256(secret)) : undefined;
    if (!feed) {
      const res = await limiter.consume(MISSES, ip);
      if (!res.allowed) throw rateLimitError(MISSES, res);
      throw notFound();
    }
    await enforceRateLimit(
      limiter,
      { name: 'calendar:feed', limit: config.calendar.feedFetchesPerHour, windowMs: 3_600_000 },
      feed.id,
    );

    let scope: CalendarScope;
    let name: string;
    if (feed.groupId === null) {
      scope = { kind: 'user', userId: feed.ownerId };
      name = `Moim · ${feed.ownerNickname}`;
    } else {
      const group = await groups.findGroup(db, feed.groupId);
      const membership = group ? await groups.membership(db, group.id, feed.ownerId) : null;
      if (!group || !mayHaveGroupFeed(membership)) {
        // Gone for good: rejoining later does not bring an old URL back to life.
        await repo.deleteFeed(db, feed.id);
        throw notFound();
      }
      scope = { kind: 'group', groupId: group.id, viewerId: feed.ownerId, member: true };
      name = `Moim · ${group.name}`;
    }

    const from = new Date(clock.now().getTime() - config.calendar.feedPastDays * 86_400_000);
    const rows = await repo.events(db, scope, { from, to: null }, FEED_LIMIT);
    await repo.touchFeed(db, feed.id);
    const body = this.calendar(name, rows);
    return { body, etag: `"${sha256(body).slice(0, 32)}"` };
  }

  // Reactions to people and groups going away (see calendar.module.ts and the README).

  async onUserDeleted(exec: Executor, userId: string): Promise<void> {
    await this.deps.repo.deleteFeedsOf(exec, { ownerId: userId });
  }

  async onMemberLeft(exec: Executor, groupId: string, userId: string): Promise<void> {
    await this.deps.repo.deleteFeedsOf(exec, { ownerId: userId, groupId });
  }

  async onGroupDeleted(exec: Executor, groupId: string): Promise<void> {
    await this.deps.repo.deleteFeedsOf(exec, { groupId });
  }

  private calendar(name: string, rows: CalendarEventRow[]): string {
    const { config } = this.deps;
    const root: Component = {
      name: 'VCALENDAR',
      properties: [
        raw('PRODID', PRODID),
        raw('VERSION', '2.0'),
        raw('CALSCALE', 'GREGORIAN'),
        text('NAME', name),
        text('X-WR-CALNAME', name),
        raw('X-WR-TIMEZONE', config.timeZone),
        { name: 'REFRESH-INTERVAL', params: { VALUE: 'DURATION' }, value: 'PT1H' },
        raw('X-PUBLISHED-TTL', 'PT1H'),
      ],
      components: rows.map((r) => this.vevent(r)),
    };
    return serialize(root);
  }

  private vevent(r: CalendarEventRow): Component {
    const props: Property[] = [
      raw('UID', `${r.id}@moim`),
      // Without a METHOD, DTSTAMP is when the entry was last revised (not the time of the request), so an
      // unchanged feed has unchanged bytes and ETag. The owner's own part (waitlist to going) counts as a revision.
      dateTime('DTSTAMP', r.revisedAt),
      dateTime('CREATED', r.createdAt),
      dateTime('LAST-MODIFIED', r.revisedAt),
      raw('SEQUENCE', r.sequence),
      dateTime('DTSTART', r.startsAt),
      dateTime('DTEND', r.endsAt),
      text('SUMMARY', r.title),
    ];
    if (r.description) props.push(text('DESCRIPTION', r.description));
    if (r.placeName) props.push(text('LOCATION', r.placeName));
    if (r.lat !== null && r.lng !== null) props.push(raw('GEO', `${coord(r.lat)};${coord(r.lng)}`));
    props.push(raw('STATUS', status(r)));
    props.push(raw('CLASS', r.visibility === 'private' ? 'PRIVATE' : 'PUBLIC'));
    props.push(raw('URL', `${this.deps.config.publicUrl}/v1/events/${r.id}`));
    if (r.role) props.push(raw('X-MOIM-ROLE', r.role.toUpperCase()));
    const color = r.myColor ?? r.hostColor;
    if (color) props.push(raw('X-MOIM-COLOR', color));
    return { name: 'VEVENT', properties: props };
  }

  private url(secret: string): string {
    return `${this.deps.config.publicUrl}/v1/calendar/feeds/${secret}.ics`;
  }

  private async owned(actor: Actor, feedId: string): Promise<FeedRow> {
    const feed = await this.deps.repo.findFeed(this.deps.db, feedId);
    if (!feed || !ownsFeed(feed, actor.userId)) throw notFound();
    return feed;
  }

  /** Private groups and strangers' groups do not exist to outsiders; a public group's outsiders get 403. */
  private async assertMember(groupId: string, userId: string): Promise<void> {
    const { groups, db } = this.deps;
    const group = await groups.findGroup(db, groupId);
    const membership = group ? await groups.membership(db, group.id, userId) : null;
    if (!group || (group.visibility === 'private' && !membership)) {
      throw new AppError('NOT_FOUND', 'No such group.');
    }
    if (!mayHaveGroupFeed(membership)) {
      throw new AppError('NOT_A_MEMBER', 'Only members of the group get its calendar feed.');
    }
  }
}

const notFound = () => new AppError('NOT_FOUND', 'No such calendar feed.');

/** Up to 6 decimals (about 10 cm), without trailing zeros. */
const coord = (v: number) => String(Number(v.toFixed(6)));

/** Cancelled for everyone; for the feed's owner a seat not yet theirs (waitlist, application) is tentative. */
function status(r: CalendarEventRow): string {
  if (r.status === 'cancelled') return 'CANCELLED';
  return r.role === 'waitlisted' || r.role === 'pending' ? 'TENTATIVE' : 'CONFIRMED';
}
