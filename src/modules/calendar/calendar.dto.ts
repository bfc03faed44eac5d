import { Type, type Static, type TSchema } from 'typebox';
import { IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import type { FeedRow } from './calendar.repository.js';
import type { DayView, MonthView } from './calendar.service.js';
import type { FeedView } from './feeds.service.js';

/** Request and response shapes of the calendar routes, and the presenters that fill them. */

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const EXAMPLE_EVENT = '6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const EXAMPLE_GROUP = '0b7e6a52-95c1-4f7e-9d3a-2f4c5b6a7d8e';
const EXAMPLE_HOST = 'a3c9e1f0-6b2d-4c8e-9f1a-7d5b3c2e1f0a';

export const MonthParam = Type.String({
  pattern: '^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$',
  description: 'A month, YYYY-MM, in the schedule time zone (`TIME_ZONE`).',
  examples: ['2026-05'],
});
export const DateParam = Type.String({
  pattern: '^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$',
  description: 'A calendar date, YYYY-MM-DD, in the schedule time zone (`TIME_ZONE`).',
  examples: ['2026-05-03'],
});
export const Color = Type.String({
  pattern: '^#[0-9a-fA-F]{6}$',
  description: 'A colour as #RRGGBB; stored lower-case.',
  examples: ['#4caf50'],
});

const Role = nullable(
  Type.Enum(['host', 'going', 'waitlisted', 'pending'], {
    description:
      "The caller's part: hosting, going, on the waitlist, or applied and awaiting the host; null when none.",
  }),
);
const Status = Type.Enum(['scheduled', 'cancelled']);

const MonthEntry = Type.Object({
  id: Uuid,
  title: Type.String(),
  startsAt: IsoDateTime,
  endsAt: IsoDateTime,
  status: Status,
  color: nullable(Type.String({ description: "The caller's own colour, else the host's; null for none." })),
  role: Role,
});

export const MonthResponse = Type.Object(
  {
    month: Type.String(),
    timeZone: Type.String({ description: 'Days and month boundaries are computed in this time zone.' }),
    from: { ...IsoDateTime, description: 'The instant the month starts in `timeZone`.' },
    to: { ...IsoDateTime, description: 'The instant the next month starts in `timeZone`.' },
    total: Type.Integer({ description: 'Distinct events in the month.' }),
    days: Type.Array(
      Type.Object({
        date: Type.String({ description: 'YYYY-MM-DD in `timeZone`.' }),
        count: Type.Integer({
          description: 'Events touching this day (an event over several days counts on each).',
        }),
        items: Type.Array(MonthEntry, { description: 'The first 20 of them, by start.' }),
      }),
      { description: 'Only days with at least one event, in order.' },
    ),
  },
  {
    $id: 'CalendarMonth',
    examples: [
      {
        month: '2026-05',
        timeZone: 'Asia/Seoul',
        from: '2026-04-30T15:00:00.000Z',
        to: '2026-05-31T15:00:00.000Z',
        total: 1,
        days: [
          {
            date: '2026-05-03',
            count: 1,
            items: [
              {
                id: EXAMPLE_EVENT,
                title: 'Han River 10K evening run',
                startsAt: '2026-05-03T10:00:00.000Z',
                endsAt: '2026-05-03T12:00:00.000Z',
                status: 'scheduled',
                color: '#4caf50',
                role: 'going',
              },
            ],
          },
        ],
      },
    ],
  },
);

const DayEntry = Type.Object({
  id: Uuid,
  groupId: nullable(Uuid),
  kind: Type.String(),
  title: Type.String(),
  description: nullable(Type.String()),
  startsAt: IsoDateTime,
  endsAt: IsoDateTime,
  placeName: nullable(Type.String()),
  lat: nullable(Type.Number()),
  lng: nullable(Type.Number()),
  region: nullable(Type.String()),
  status: Status,
  visibility: Type.Enum(['public', 'private']),
  locked: Type.Boolean({ description: 'The roster is confirmed.' }),
  capacity: nullable(Type.Integer()),
  goingCount: Type.Integer(),
  waitlistCount: Type.Integer({ description: 'The host sees who queues; everyone else gets 0.' }),
  host: Type.Object({
    id: Uuid,
    nickname: Type.String(),
    avatarUrl: nullable(Type.String()),
    displayName: nullable(
      Type.String({ description: 'In a group calendar, the name the host goes by in the group ("Mom").' }),
    ),
  }),
  color: nullable(Type.String({ description: "The caller's own colour, else the host's." })),
  hostColor: nullable(Type.String({ description: "The host's colour for the event." })),
  myColor: nullable(Type.String({ description: "The caller's own colour, if they chose one." })),
  role: Role,
});

export const DayResponse = Type.Object(
  {
    date: Type.String(),
    timeZone: Type.String(),
    from: { ...IsoDateTime, description: 'The instant the day starts in `timeZone`.' },
    to: { ...IsoDateTime, description: 'The instant the next day starts in `timeZone`.' },
    items: Type.Array(DayEntry, { description: 'Events overlapping the day, by start.' }),
  },
  {
    $id: 'CalendarDay',
    examples: [
      {
        date: '2026-05-03',
        timeZone: 'Asia/Seoul',
        from: '2026-05-02T15:00:00.000Z',
        to: '2026-05-03T15:00:00.000Z',
        items: [
          {
            id: EXAMPLE_EVENT,
            groupId: EXAMPLE_GROUP,
            kind: 'family',
            title: 'Grandma’s birthday dinner',
            description: 'Bring the photo album.',
            startsAt: '2026-05-03T09:00:00.000Z',
            endsAt: '2026-05-03T11:00:00.000Z',
            placeName: '한정식 소담, 종로',
            lat: 37.5704,
            lng: 126.9921,
            region: 'seoul',
            status: 'scheduled',
            visibility: 'private',
            locked: false,
            capacity: null,
            goingCount: 5,
            waitlistCount: 0,
            host: { id: EXAMPLE_HOST, nickname: 'jiwoo', avatarUrl: null, displayName: 'Mom' },
            color: '#4caf50',
            hostColor: '#ff8800',
            myColor: '#4caf50',
            role: 'going',
          },
        ],
      },
    ],
  },
);

export const ColorBody = Type.Object(
  { color: Color },
  { additionalProperties: false, examples: [{ color: '#4caf50' }] },
);

export const ColorResponse = Type.Object(
  {
    eventId: Uuid,
    hostColor: nullable(Type.String({ description: "The host's colour, set by editing the event." })),
    myColor: nullable(Type.String({ description: "The caller's own colour; null: the host's is shown." })),
  },
  { examples: [{ eventId: EXAMPLE_EVENT, hostColor: '#ff8800', myColor: '#4caf50' }] },
);

export const CreateFeedBody = Type.Object(
  {
    groupId: Type.Optional({
      ...Uuid,
      description:
        "A group the caller belongs to: a feed of that group's calendar. Absent: the caller's own.",
    }),
  },
  { additionalProperties: false, examples: [{}, { groupId: EXAMPLE_GROUP }] },
);

const feedFields = {
  id: Uuid,
  scope: Type.Enum(['user', 'group'], {
    description: "user: the owner's own calendar; group: the group's calendar as the owner sees it.",
  }),
  groupId: nullable(Uuid),
  createdAt: IsoDateTime,
  rotatedAt: nullable(IsoDateTime),
  lastUsedAt: nullable({ ...IsoDateTime, description: 'Last fetch (recorded at most hourly).' }),
};

export const FeedResponse = Type.Object(feedFields, {
  $id: 'CalendarFeed',
  examples: [
    {
      id: '9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
      scope: 'user',
      groupId: null,
      createdAt: '2026-05-01T00:00:00.000Z',
      rotatedAt: null,
      lastUsedAt: '2026-05-02T08:00:00.000Z',
    },
  ],
});

export const FeedListResponse = withExamples(Type.Object({ items: Type.Array(Type.Ref('CalendarFeed')) }), {
  items: (FeedResponse as unknown as { examples: Static<typeof FeedResponse>[] }).examples,
});

export const FeedSecretResponse = Type.Object(
  {
    ...feedFields,
    url: Type.String({
      description:
        'The secret feed URL: shown only now (only a hash is kept). Anyone holding it reads the feed until it ' +
        'is rotated or revoked.',
    }),
    webcalUrl: Type.String({ description: 'The same URL as webcal://, which opens calendar apps directly.' }),
  },
  {
    examples: [
      {
        id: '9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
        scope: 'user',
        groupId: null,
        createdAt: '2026-05-01T00:00:00.000Z',
        rotatedAt: null,
        lastUsedAt: null,
        url: 'https://api.example.com/v1/calendar/feeds/<secret>.ics',
        webcalUrl: 'webcal://api.example.com/v1/calendar/feeds/<secret>.ics',
      },
    ],
  },
);

export const FeedFileParams = Type.Object({
  file: Type.String({
    maxLength: 100,
    description: 'The secret of the feed followed by `.ics`, as in the URL given on creation or rotation.',
  }),
});

export function toMonth(view: MonthView): Static<typeof MonthResponse> {
  return {
    month: view.month,
    timeZone: view.timeZone,
    from: view.from.toISOString(),
    to: view.to.toISOString(),
    total: view.total,
    days: view.days.map((d) => ({
      date: d.date,
      count: d.count,
      items: d.items.map((e) => ({
        id: e.id,
        title: e.title,
        startsAt: e.startsAt.toISOString(),
        endsAt: e.endsAt.toISOString(),
        status: e.status,
        color: e.color,
        role: e.role,
      })),
    })),
  };
}

export function toDay(view: DayView): Static<typeof DayResponse> {
  return {
    date: view.date,
    timeZone: view.timeZone,
    from: view.from.toISOString(),
    to: view.to.toISOString(),
    items: view.items.map((e) => ({
      id: e.id,
      groupId: e.groupId,
      kind: e.kind,
      title: e.title,
      description: e.description,
      startsAt: e.startsAt.toISOString(),
      endsAt: e.endsAt.toISOString(),
      placeName: e.placeName,
      lat: e.lat,
      lng: e.lng,
      region: e.region,
      status: e.status,
      visibility: e.visibility,
      locked: e.locked,
      capacity: e.capacity,
      goingCount: e.goingCount,
      // Who queues is the host's business, as on the event itself.
      waitlistCount: e.role === 'host' ? e.waitlistCount : 0,
      host: {
        id: e.hostId,
        nickname: e.hostNickname,
        avatarUrl: e.hostAvatarUrl,
        displayName: e.hostDisplayName,
      },
      color: e.myColor ?? e.hostColor,
      hostColor: e.hostColor,
      myColor: e.myColor,
      role: e.role,
    })),
  };
}

export function toFeed(feed: FeedRow): Static<typeof FeedResponse> {
  return {
    id: feed.id,
    scope: feed.groupId === null ? 'user' : 'group',
    groupId: feed.groupId,
    createdAt: feed.createdAt.toISOString(),
    rotatedAt: feed.rotatedAt?.toISOString() ?? null,
    lastUsedAt: feed.lastUsedAt?.toISOString() ?? null,
  };
}

export function toFeedWithSecret(feed: FeedView): Static<typeof FeedSecretResponse> {
  const url = feed.url ?? '';
  return { ...toFeed(feed), url, webcalUrl: url.replace(/^https?:/, 'webcal:') };
}
