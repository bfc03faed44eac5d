import { Type, type Static } from 'typebox';
import { IsoDateTime, Page, Uuid, withExamples } from '../../http/schemas.js';

/** Request and response shapes of live location, over HTTP and the socket alike. */

const strict = { additionalProperties: false } as const;

// Redis GEO stores latitudes within ±85.05112878°; the same bound applies in embedded mode so both behave alike.
export const LocLat = Type.Number({ minimum: -85, maximum: 85, examples: [37.5283] });
export const LocLng = Type.Number({ minimum: -180, maximum: 180, examples: [126.9326] });

export const PRECISIONS = ['exact', '100m', '1km'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const Precision = Type.Enum(PRECISIONS, {
  description:
    'How precisely the audience sees you: exact, or snapped to a grid of about 100 m or about 1 km (done by the ' +
    'server before the position is stored or sent).',
  examples: ['100m'],
});

export const AUDIENCES = ['event', 'group', 'nearby'] as const;
export type AudienceType = (typeof AUDIENCES)[number];

// One object rather than a union of three: Fastify's validator drops "additional" properties while it tries
// each branch of a union, which would strip `groupId` before the group branch is reached.
export const Audience = Type.Object(
  {
    type: Type.Enum(AUDIENCES),
    eventId: Type.Optional(Uuid),
    groupId: Type.Optional(Uuid),
  },
  {
    ...strict,
    description:
      "Who sees the share: an event's people going (`{ type: 'event', eventId }`, from 30 min before its start " +
      "to its end), a group's members (`{ type: 'group', groupId }`), or anyone signed in looking at the map " +
      "near you (`{ type: 'nearby' }`, never exact).",
    examples: [{ type: 'event', eventId: '9b2f7f7e-3c1a-4c52-9a55-1d3f3f1f2a10' }],
  },
);
export type Audience = Static<typeof Audience>;

export const StartShareBody = Type.Object(
  {
    audience: Audience,
    precision: Precision,
    durationMinutes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_080,
        description:
          'How long to share. Required for group and nearby shares; for an event share it defaults to (and is ' +
          'capped at) the event’s end. Capped at LOCATION_SHARE_MAX_MINUTES.',
        examples: [60],
      }),
    ),
  },
  { ...strict, examples: [{ audience: { type: 'nearby' }, precision: '100m', durationMinutes: 60 }] },
);
export type StartShareBody = Static<typeof StartShareBody>;

export const STOP_REASONS = [
  'stopped',
  'expired',
  'replaced',
  'session_ended',
  'account_deleted',
  'audience_left',
  'event_cancelled',
  'group_deleted',
  'event_rescheduled',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const ShareResponse = Type.Object(
  {
    id: Uuid,
    audience: Type.Object({
      type: Type.Enum(AUDIENCES),
      id: Type.Union([Uuid, Type.Null()], { description: 'The event or group id; null for nearby.' }),
    }),
    precision: Precision,
    startedAt: IsoDateTime,
    endsAt: IsoDateTime,
    active: Type.Boolean(),
    stoppedAt: Type.Union([IsoDateTime, Type.Null()]),
    stopReason: Type.Union([Type.Enum(STOP_REASONS), Type.Null()]),
  },
  {
    $id: 'LocationShare',
    examples: [
      {
        id: '3d0c1f55-5a8e-4d8e-9e0b-6c1c8f0e9a11',
        audience: { type: 'nearby', id: null },
        precision: '100m',
        startedAt: '2026-11-30T09:00:00.000Z',
        endsAt: '2026-11-30T10:00:00.000Z',
        active: true,
        stoppedAt: null,
        stopReason: null,
      },
    ],
  },
);
export type ShareView = Static<typeof ShareResponse>;

export const UpdateBody = Type.Object(
  { lat: LocLat, lng: LocLng },
  { ...strict, examples: [{ lat: 37.5283, lng: 126.9326 }] },
);

const Radius = Type.Integer({ minimum: 50, maximum: 50_000, description: 'Metres.', examples: [1000] });

export const Layer = Type.Union(
  [
    Type.Object(
      {
        type: Type.Literal('event'),
        eventId: Uuid,
        lat: Type.Optional(LocLat),
        lng: Type.Optional(LocLng),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('group'),
        groupId: Uuid,
        lat: Type.Optional(LocLat),
        lng: Type.Optional(LocLng),
      },
      strict,
    ),
    Type.Object({ type: Type.Literal('nearby'), lat: LocLat, lng: LocLng, radiusM: Radius }, strict),
  ],
  {
    description:
      'What to watch: an event’s live map, a group’s, or the people and open events within radiusM of a point ' +
      '(lat/lng on event and group layers only order people nearest first).',
  },
);
export type Layer = Static<typeof Layer>;

export const SubscribeBody = Type.Object({ layer: Layer }, strict);
export const SubscriptionId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

/** One person on a map, as the subscriber may see them. */
export interface PersonOnMap {
  userId: string;
  nickname: string;
  shareId: string;
  lat: number;
  lng: number;
  precision: Precision;
  /** From the subscriber's centre (nearby), the event's meeting point, or the given point; null without one. */
  distanceM: number | null;
  updatedAt: string;
}

/** An open event near a nearby subscriber: public, scheduled, not started, not full, not locked. */
export interface EventPin {
  id: string;
  title: string;
  lat: number;
  lng: number;
  startsAt: string;
  goingCount: number;
  capacity: number | null;
  distanceM: number;
}

export interface LocationFrame {
  subscriptionId: string;
  at: string;
  /** At most 50, nearest first (most recently updated first when there is no centre). */
  people: PersonOnMap[];
  /** Nearby layer only: at most 50 open events, nearest first. */
  events?: EventPin[];
}

export const AccessLogEntry = Type.Object(
  {
    viewer: Type.Object({ id: Uuid, nickname: Type.String() }),
    shareId: Uuid,
    audience: Type.Enum(AUDIENCES),
    firstSeenAt: IsoDateTime,
    lastSeenAt: IsoDateTime,
    deliveries: Type.Integer({
      description: 'How many times your position was pushed to them in that span.',
    }),
  },
  {
    $id: 'LocationAccess',
    examples: [
      {
        viewer: { id: '5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', nickname: 'runner_kim' },
        shareId: '3d0c1f55-5a8e-4d8e-9e0b-6c1c8f0e9a11',
        audience: 'event',
        firstSeenAt: '2026-11-30T09:00:03.000Z',
        lastSeenAt: '2026-11-30T09:00:12.000Z',
        deliveries: 4,
      },
    ],
  },
);
export type AccessLogView = Static<typeof AccessLogEntry>;

export const ShareList = withExamples(Type.Object({ items: Type.Array(Type.Ref('LocationShare')) }), {
  items: (ShareResponse as unknown as { examples: ShareView[] }).examples,
});

export const AccessLogPage = withExamples(Page(Type.Ref('LocationAccess')), {
  items: (AccessLogEntry as unknown as { examples: Static<typeof AccessLogEntry>[] }).examples,
  nextCursor: null,
});
