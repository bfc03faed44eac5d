import { Type, type Static, type TSchema } from 'typebox';
import { IsoDateTime, Uuid } from '../../http/schemas.js';
import { REGIONS } from '../../shared/regions.js';
import { EVENT_KINDS, EVENT_THEMES } from '../events/events.schema.js';
import {
  LENGTH_BUCKETS,
  MINE_VIEWS,
  SORTS,
  TIME_BANDS,
  type EventCardRow,
  type PinRow,
} from './discovery.repository.js';

/** Request and response shapes of discovery, and the presenters that fill them. */

const literals = <const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) =>
  Type.Enum<[...T]>([...values], options);
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** Repeat the parameter for several values (`?theme=city&theme=park`): any of them matches. */
const many = <T extends TSchema>(item: T, description: string, examples: unknown[]) =>
  Type.Optional(Type.Array(item, { maxItems: 20, description, examples: [examples] }));

const Lat = Type.Number({
  minimum: -90,
  maximum: 90,
  description: 'Latitude of the search point.',
  examples: [37.5283],
});
const Lng = Type.Number({
  minimum: -180,
  maximum: 180,
  description: 'Longitude of the search point.',
  examples: [126.9326],
});
const RadiusKm = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1000,
  description: 'Radius around lat/lng in km (default 10; at most `DISCOVERY_MAX_RADIUS_KM`).',
  examples: [5],
});
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 }));
const Cursor = Type.Optional(
  Type.String({ maxLength: 512, description: "The previous page's `nextCursor`, with the same filters." }),
);

const filters = {
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'Words found anywhere in the title, the place name or the description (case-insensitive).',
      examples: ['한강'],
    }),
  ),
  tags: many(Type.String({ minLength: 1, maxLength: 30 }), 'Events with any of these tags.', ['running']),
  theme: many(literals(EVENT_THEMES), 'Events with any of these themes.', ['riverside']),
  kind: many(literals(EVENT_KINDS), 'Events of any of these kinds.', ['run']),
  from: Type.Optional(
    Type.String({
      maxLength: 40,
      description:
        'Starting at or after: a date (YYYY-MM-DD, from its first moment in `TIME_ZONE`) or an RFC 3339 time. ' +
        'Default: now.',
      examples: ['2026-12-05'],
    }),
  ),
  to: Type.Optional(
    Type.String({
      maxLength: 40,
      description: 'Starting before: a date (up to the end of that day in `TIME_ZONE`) or an RFC 3339 time.',
      examples: ['2026-12-06'],
    }),
  ),
  timeOfDay: many(
    literals(TIME_BANDS),
    'Starting in any of these bands, local time (`TIME_ZONE`): morning 05–12, afternoon 12–17, evening 17–21, ' +
      'night 21–05.',
    ['evening'],
  ),
  region: many(literals(REGIONS), 'Events in any of these regions.', ['seoul']),
  lat: Type.Optional(Lat),
  lng: Type.Optional(Lng),
  radiusKm: Type.Optional(RadiusKm),
  bbox: Type.Optional(
    Type.String({
      maxLength: 100,
      description: 'Instead of lat/lng: a box `minLat,minLng,maxLat,maxLng`.',
      examples: ['37.50,126.90,37.56,126.98'],
    }),
  ),
  length: many(
    literals(LENGTH_BUCKETS),
    'Course length: under 5 km, 5–10, 10–15, 15 km and more. Events without a length do not match.',
    ['5to10'],
  ),
  openOnly: Type.Optional(
    Type.Boolean({
      description: 'Only events taking people now: not full, not started, applications open, not locked.',
      examples: [true],
    }),
  ),
  groupId: Type.Optional({
    ...Uuid,
    description:
      "A group's events: all of them for its members, its public ones for others (404 for a private group's outsiders).",
  }),
};

export const SearchQuery = Type.Object(
  {
    ...filters,
    sort: Type.Optional(
      literals(SORTS, {
        description:
          'soonest (default), newest, nearest (default with lat/lng; needs them), liked (most liked).',
        examples: ['soonest'],
      }),
    ),
    cursor: Cursor,
    limit: Limit,
  },
  { additionalProperties: false },
);

export const MapQuery = Type.Object(
  {
    ...filters,
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 5000, description: 'At most `DISCOVERY_MAP_MAX_PINS`.' }),
    ),
  },
  { additionalProperties: false },
);

export const MineQuery = Type.Object(
  {
    view: literals(MINE_VIEWS, {
      description:
        'hosting: upcoming events I host; going: upcoming events I have a seat at (hosted ones included); ' +
        'waitlisted: upcoming events where I queue or my application waits; invited: upcoming events I am ' +
        'invited to; past: events that ended which I hosted or went to, latest first.',
      examples: ['going'],
    }),
    cursor: Cursor,
    limit: Limit,
  },
  { additionalProperties: false },
);

export const RecommendedQuery = Type.Object(
  {
    lat: Type.Optional(Lat),
    lng: Type.Optional(Lng),
    radiusKm: Type.Optional({ ...RadiusKm, description: 'Radius around lat/lng in km (default 20).' }),
    limit: Limit,
  },
  { additionalProperties: false },
);

export const EventCard = Type.Object(
  {
    id: Uuid,
    groupId: nullable(Uuid),
    host: Type.Object({ id: Uuid, nickname: Type.String(), avatarUrl: nullable(Type.String()) }),
    kind: literals(EVENT_KINDS),
    title: Type.String(),
    startsAt: IsoDateTime,
    endsAt: IsoDateTime,
    placeName: nullable(Type.String()),
    lat: nullable(Type.Number()),
    lng: nullable(Type.Number()),
    region: nullable(literals(REGIONS)),
    distanceM: nullable(Type.Integer({ description: 'Course length in metres.' })),
    paceSecPerKm: nullable(Type.Integer()),
    theme: nullable(literals(EVENT_THEMES)),
    tags: Type.Array(Type.String()),
    capacity: nullable(Type.Integer()),
    goingCount: Type.Integer(),
    visibility: literals(['public', 'private']),
    open: Type.Boolean({ description: 'Taking people now: scheduled, not started, not locked, not full.' }),
    locked: Type.Boolean(),
    likeCount: Type.Integer(),
    bookmarkCount: Type.Integer(),
    createdAt: IsoDateTime,
    awayM: nullable(Type.Integer({ description: 'Metres from the search point, when one was given.' })),
    viewer: nullable(
      Type.Object(
        {
          liked: Type.Boolean(),
          bookmarked: Type.Boolean(),
          status: nullable(
            Type.String({
              description: 'In "mine" views: host, going, waitlisted, pending or invited.',
            }),
          ),
        },
        { description: 'The signed-in caller: their like, bookmark and place at the event.' },
      ),
    ),
  },
  {
    $id: 'EventCard',
    examples: [
      {
        id: '0b7e4a4e-2a59-4c8f-9d3e-5f1c2a7b9e10',
        groupId: null,
        host: { id: '5d8f0c1e-7a2b-4c3d-9e8f-0a1b2c3d4e5f', nickname: 'runner_kim', avatarUrl: null },
        kind: 'run',
        title: 'Han River 10K evening run',
        startsAt: '2026-12-05T10:00:00.000Z',
        endsAt: '2026-12-05T12:00:00.000Z',
        placeName: 'Yeouinaru station, exit 2',
        lat: 37.5283,
        lng: 126.9326,
        region: 'seoul',
        distanceM: 10000,
        paceSecPerKm: 360,
        theme: 'riverside',
        tags: ['running', '10k'],
        capacity: 8,
        goingCount: 3,
        visibility: 'public',
        open: true,
        locked: false,
        likeCount: 12,
        bookmarkCount: 4,
        createdAt: '2026-11-30T07:00:00.000Z',
        awayM: 1240,
        viewer: { liked: true, bookmarked: false, status: null },
      },
    ],
  },
);
export type EventCard = Static<typeof EventCard>;

export function toCard(row: EventCardRow, now: Date): EventCard {
  return {
    id: row.id,
    groupId: row.groupId,
    host: { id: row.hostId, nickname: row.hostNickname, avatarUrl: row.hostAvatarUrl },
    kind: row.kind,
    title: row.title,
    startsAt: row.startsAt.toISOString(),
    endsAt: row.endsAt.toISOString(),
    placeName: row.placeName,
    lat: row.lat,
    lng: row.lng,
    region: row.region as EventCard['region'],
    distanceM: row.distanceM,
    paceSecPerKm: row.paceSecPerKm,
    theme: row.theme,
    tags: row.tags,
    capacity: row.capacity,
    goingCount: row.goingCount,
    visibility: row.visibility,
    open:
      row.status === 'scheduled' &&
      row.lockedAt === null &&
      row.startsAt > now &&
      (row.applyDeadline === null || row.applyDeadline > now) &&
      (row.capacity === null || row.goingCount < row.capacity),
    locked: row.lockedAt !== null,
    likeCount: row.likeCount,
    bookmarkCount: row.bookmarkCount,
    createdAt: row.createdAt.toISOString(),
    awayM: row.away === null ? null : Math.round(row.away),
    viewer:
      row.liked === null
        ? null
        : { liked: row.liked, bookmarked: row.bookmarked ?? false, status: row.myStatus },
  };
}

const Cursored = (item: TSchema, example: unknown) =>
  Type.Object(
    {
      items: Type.Array(item),
      nextCursor: nullable(
        Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
      ),
    },
    {
      examples: [{ items: [example], nextCursor: 'WyJzb29uZXN0IiwiMjAyNi0xMi0wNVQxMDowMDowMC4wMDAwMDBaIi…' }],
    },
  );

const cardExample = (EventCard as unknown as { examples: unknown[] }).examples[0];
export const EventPage = Cursored(Type.Ref('EventCard'), cardExample);

export const Pin = Type.Object({
  id: Uuid,
  lat: Type.Number(),
  lng: Type.Number(),
  title: Type.String(),
  startsAt: IsoDateTime,
  goingCount: Type.Integer(),
  capacity: nullable(Type.Integer()),
  open: Type.Boolean(),
  awayM: Type.Integer({ description: 'Metres from the centre of the circle or box.' }),
});

export const PinsResponse = Type.Object(
  {
    items: Type.Array(Pin),
    truncated: Type.Boolean({ description: 'More events matched than the cap; zoom in to see them.' }),
  },
  {
    examples: [
      {
        items: [
          {
            id: '0b7e4a4e-2a59-4c8f-9d3e-5f1c2a7b9e10',
            lat: 37.5283,
            lng: 126.9326,
            title: 'Han River 10K evening run',
            startsAt: '2026-12-05T10:00:00.000Z',
            goingCount: 3,
            capacity: 8,
            open: true,
            awayM: 420,
          },
        ],
        truncated: false,
      },
    ],
  },
);

export function toPin(p: PinRow): Static<typeof Pin> {
  return {
    id: p.id,
    lat: p.lat,
    lng: p.lng,
    title: p.title,
    startsAt: p.startsAt,
    goingCount: p.goingCount,
    capacity: p.capacity,
    open: p.open,
    awayM: Math.round(p.away),
  };
}

export const RecommendedResponse = Type.Object(
  {
    items: Type.Array(Type.Ref('EventCard')),
    basedOn: Type.Object(
      {
        region: nullable(Type.String()),
        distanceKm: nullable(Type.Integer({ description: 'Preferred course length.' })),
        interests: Type.Array(Type.String()),
      },
      { description: 'The preferences used (set them with PATCH /v1/me).' },
    ),
  },
  {
    examples: [
      {
        items: [cardExample],
        basedOn: { region: 'seoul', distanceKm: 10, interests: ['running', 'riverside'] },
      },
    ],
  },
);
