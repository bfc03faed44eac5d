import { Type, type Static, type TSchema } from 'typebox';
import { EXAMPLE, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import { REGIONS } from '../../shared/regions.js';
import { ALL_REASONS, type Reputation } from './attendance.service.js';
import { canManage, type EventViewer } from './events.policy.js';
import type {
  EventRow,
  InvitationRow,
  InvitationWithEvent,
  ParticipantWithUser,
  PersonCard,
  RatingRow,
} from './events.repository.js';
import { EVENT_KINDS, EVENT_THEMES } from './events.schema.js';

/** Request and response shapes of the events routes, and the presenters that fill them. */

const literals = <const T extends readonly string[]>(values: T, description?: string) =>
  Type.Enum<[...T]>([...values], description === undefined ? {} : { description });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Examples of the events routes' bodies, for the OpenAPI document. */
const someone = { id: EXAMPLE.otherUserId, nickname: 'jisoo_runs', avatarUrl: null };
export const EXAMPLES = {
  participants: {
    items: [
      {
        user: { id: EXAMPLE.userId, nickname: 'runner_kim', avatarUrl: null },
        role: 'host' as const,
        status: 'going' as const,
        confirmed: false,
      },
      { user: someone, role: 'participant' as const, status: 'going' as const, confirmed: false },
    ],
  },
  membership: { eventId: EXAMPLE.eventId, status: 'going' as const },
  invitation: {
    id: EXAMPLE.invitationId,
    eventId: EXAMPLE.eventId,
    inviterId: EXAMPLE.userId,
    inviteeId: EXAMPLE.otherUserId,
    status: 'pending' as const,
    createdAt: EXAMPLE.now,
  },
  myInvitation: {
    id: EXAMPLE.invitationId,
    event: { id: EXAMPLE.eventId, title: 'Han River 10K evening run', startsAt: EXAMPLE.startsAt },
    inviter: { id: EXAMPLE.userId, nickname: 'runner_kim' },
    createdAt: EXAMPLE.now,
  },
  attendance: {
    opensAt: '2026-05-02T09:30:00.000Z',
    closesAt: '2026-05-02T14:00:00.000Z',
    participants: [{ user: someone, attendance: 'present' as const, markedBy: 'self' as const }],
  },
  rating: {
    id: EXAMPLE.ratingId,
    eventId: EXAMPLE.eventId,
    rateeId: EXAMPLE.userId,
    rateeRole: 'host' as const,
    verdict: 'good' as const,
    reason: 'good_course',
    createdAt: '2026-05-02T13:00:00.000Z',
  },
};

export const Kind = literals(EVENT_KINDS, 'What sort of event.');
export const Theme = literals(EVENT_THEMES, 'Setting of a run or walk.');
export const Region = literals(REGIONS, 'Korean region.');
export const Lat = Type.Number({ minimum: -90, maximum: 90, examples: [37.5283] });
export const Lng = Type.Number({ minimum: -180, maximum: 180, examples: [126.9326] });
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 30 }), {
  maxItems: 10,
  description: 'Up to 10 tags; trimmed, lower-cased, deduplicated.',
  examples: [['running', '10k']],
});
const Course = Type.Object(
  {
    type: Type.Literal('LineString'),
    coordinates: Type.Array(Type.Tuple([Lng, Lat]), { minItems: 2, maxItems: 5000 }),
  },
  {
    additionalProperties: false,
    description: 'The route as a GeoJSON LineString of [longitude, latitude] positions.',
    examples: [
      {
        type: 'LineString',
        coordinates: [
          [126.9326, 37.5283],
          [126.9411, 37.5262],
        ],
      },
    ],
  },
);

const editable = {
  kind: Type.Optional(Kind),
  title: Type.String({ minLength: 2, maxLength: 100, examples: ['Han River 10K evening run'] }),
  description: Type.Optional(nullable(Type.String({ maxLength: 2000 }))),
  startsAt: IsoDateTime,
  endsAt: IsoDateTime,
  applyDeadline: Type.Optional(
    nullable({ ...IsoDateTime, description: 'Applications close here; default: at the start.' }),
  ),
  placeName: Type.Optional(
    nullable(Type.String({ maxLength: 200, examples: ['Yeouinaru station, exit 2'] })),
  ),
  lat: Type.Optional(nullable(Lat)),
  lng: Type.Optional(nullable(Lng)),
  region: Type.Optional(nullable(Region)),
  course: Type.Optional(nullable(Course)),
  distanceM: Type.Optional(
    nullable(
      Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Course length; default: measured.' }),
    ),
  ),
  paceSecPerKm: Type.Optional(
    nullable(Type.Integer({ minimum: 60, maximum: 3600, description: 'Planned pace, seconds per km.' })),
  ),
  theme: Type.Optional(nullable(Theme)),
  tags: Type.Optional(Tags),
  bring: Type.Optional(nullable(Type.String({ maxLength: 500, description: 'What to bring.' }))),
  parking: Type.Optional(nullable(Type.String({ maxLength: 500 }))),
  link: Type.Optional(
    nullable(
      Type.String({
        format: 'uri',
        // Clients render it as a link: only web addresses, never javascript:, data: or app schemes.
        pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
        maxLength: 500,
        description: 'An http(s) address, e.g. an open-chat room.',
      }),
    ),
  ),
  color: Type.Optional(nullable(Type.String({ pattern: '^#[0-9a-fA-F]{6}$', examples: ['#ff8800'] }))),
  capacity: Type.Optional(
    nullable(
      Type.Integer({ minimum: 2, maximum: 1000, description: 'Seats including the host; null: no limit.' }),
    ),
  ),
  waitlistEnabled: Type.Optional(Type.Boolean({ description: 'When full, newcomers queue (default true).' })),
  requiresApproval: Type.Optional(Type.Boolean({ description: 'The host accepts each application.' })),
  visibility: Type.Optional(
    literals(['public', 'private'], 'Private: the group, participants and invitees only. Default public.'),
  ),
};

export const CreateEventBody = withExamples(
  Type.Object({ groupId: Type.Optional(nullable(Uuid)), ...editable }, { additionalProperties: false }),
  {
    kind: 'run',
    title: 'Han River 10K evening run',
    description: 'Easy pace along the river; we stop at the 5 km mark.',
    startsAt: EXAMPLE.startsAt,
    endsAt: EXAMPLE.endsAt,
    placeName: 'Yeouinaru station, exit 2',
    lat: 37.5283,
    lng: 126.9326,
    paceSecPerKm: 360,
    theme: 'riverside',
    tags: ['running', '10k'],
    bring: 'Water and a light jacket',
    capacity: 10,
    requiresApproval: false,
    visibility: 'public',
  },
);
export const UpdateEventBody = withExamples(
  Type.Partial(Type.Object(editable, { additionalProperties: false }), {
    additionalProperties: false,
    minProperties: 1,
  }),
  { capacity: 12, bring: 'Water, a light jacket and a headlamp' },
);

const Person = Type.Object({ id: Uuid, nickname: Type.String(), avatarUrl: nullable(Type.String()) });

const ViewerState = Type.Object(
  {
    status: nullable(literals(['pending', 'going', 'waitlisted', 'cancelled', 'rejected', 'kicked'])),
    isHost: Type.Boolean(),
    confirmed: Type.Boolean({ description: 'Confirmed the roster.' }),
    invitationId: nullable(Uuid),
    groupRole: nullable(literals(['owner', 'admin', 'member'])),
  },
  { description: 'What the caller is to this event.' },
);

export const EventResponse = Type.Object(
  {
    id: Uuid,
    groupId: nullable(Uuid),
    host: Person,
    kind: Kind,
    title: Type.String(),
    description: nullable(Type.String()),
    startsAt: IsoDateTime,
    endsAt: IsoDateTime,
    applyDeadline: nullable(IsoDateTime),
    placeName: nullable(Type.String()),
    lat: nullable(Type.Number()),
    lng: nullable(Type.Number()),
    region: nullable(Region),
    course: nullable(Course),
    distanceM: nullable(Type.Integer()),
    paceSecPerKm: nullable(Type.Integer()),
    theme: nullable(Theme),
    tags: Type.Array(Type.String()),
    bring: nullable(Type.String()),
    parking: nullable(Type.String()),
    link: nullable(Type.String()),
    color: nullable(Type.String()),
    capacity: nullable(Type.Integer()),
    waitlistEnabled: Type.Boolean(),
    requiresApproval: Type.Boolean(),
    visibility: literals(['public', 'private']),
    status: literals(['scheduled', 'cancelled']),
    locked: Type.Boolean({ description: 'The roster is confirmed: no more changes.' }),
    open: Type.Boolean({ description: 'Taking people now: scheduled, not started, not locked, not full.' }),
    goingCount: Type.Integer(),
    waitlistCount: Type.Integer(),
    pendingCount: Type.Integer(),
    likeCount: Type.Integer(),
    bookmarkCount: Type.Integer(),
    createdAt: IsoDateTime,
    updatedAt: IsoDateTime,
    viewer: nullable(ViewerState),
  },
  {
    $id: 'Event',
    examples: [
      {
        id: EXAMPLE.eventId,
        groupId: null,
        host: { id: EXAMPLE.userId, nickname: 'runner_kim', avatarUrl: null },
        kind: 'run',
        title: 'Han River 10K evening run',
        description: 'Easy pace along the river; we stop at the 5 km mark.',
        startsAt: EXAMPLE.startsAt,
        endsAt: EXAMPLE.endsAt,
        applyDeadline: null,
        placeName: 'Yeouinaru station, exit 2',
        lat: 37.5283,
        lng: 126.9326,
        region: 'seoul',
        course: null,
        distanceM: 10000,
        paceSecPerKm: 360,
        theme: 'riverside',
        tags: ['running', '10k'],
        bring: 'Water and a light jacket',
        parking: null,
        link: null,
        color: null,
        capacity: 10,
        waitlistEnabled: true,
        requiresApproval: false,
        visibility: 'public',
        status: 'scheduled',
        locked: false,
        open: true,
        goingCount: 4,
        waitlistCount: 0,
        pendingCount: 0,
        likeCount: 3,
        bookmarkCount: 1,
        createdAt: EXAMPLE.now,
        updatedAt: EXAMPLE.now,
        viewer: { status: 'going', isHost: false, confirmed: false, invitationId: null, groupRole: null },
      },
    ],
  },
);
export type EventResponse = Static<typeof EventResponse>;

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

/** Open for newcomers right now (the waitlist counts as open only when seats are free). */
export function isOpen(event: EventRow, now: Date): boolean {
  return (
    event.status === 'scheduled' &&
    event.lockedAt === null &&
    event.startsAt > now &&
    (event.applyDeadline === null || event.applyDeadline > now) &&
    (event.capacity === null || event.goingCount < event.capacity)
  );
}

export function toEvent(
  event: EventRow,
  host: PersonCard,
  viewer: EventViewer | null,
  now: Date,
): EventResponse {
  const manager = viewer !== null && canManage(event, viewer);
  return {
    id: event.id,
    groupId: event.groupId,
    host,
    kind: event.kind,
    title: event.title,
    description: event.description,
    startsAt: iso(event.startsAt),
    endsAt: iso(event.endsAt),
    applyDeadline: isoOrNull(event.applyDeadline),
    placeName: event.placeName,
    lat: event.lat,
    lng: event.lng,
    region: event.region as EventResponse['region'],
    course: event.course as EventResponse['course'],
    distanceM: event.distanceM,
    paceSecPerKm: event.paceSecPerKm,
    theme: event.theme,
    tags: event.tags,
    bring: event.bring,
    parking: event.parking,
    link: event.link,
    color: event.color,
    capacity: event.capacity,
    waitlistEnabled: event.waitlistEnabled,
    requiresApproval: event.requiresApproval,
    visibility: event.visibility,
    status: event.status,
    locked: event.lockedAt !== null,
    open: isOpen(event, now),
    goingCount: event.goingCount,
    // Who is queueing or applying is the host's business; others see the seats only.
    waitlistCount: manager ? event.waitlistCount : 0,
    pendingCount: manager ? event.pendingCount : 0,
    likeCount: event.likeCount,
    bookmarkCount: event.bookmarkCount,
    createdAt: iso(event.createdAt),
    updatedAt: iso(event.updatedAt),
    viewer:
      !viewer || viewer.userId === null
        ? null
        : {
            status: viewer.participant?.status ?? null,
            isHost: event.hostId === viewer.userId,
            confirmed: Boolean(viewer.participant?.confirmedAt),
            invitationId: viewer.invitation?.id ?? null,
            groupRole: viewer.groupRole,
          },
  };
}

export const ParticipantResponse = Type.Object({
  user: Person,
  role: literals(['host', 'participant']),
  status: literals(['pending', 'going', 'waitlisted']),
  confirmed: Type.Boolean(),
  message: Type.Optional(nullable(Type.String({ description: 'Application message (host only).' }))),
  waitlistedAt: Type.Optional(nullable(IsoDateTime)),
  attendance: Type.Optional(nullable(literals(['present', 'absent']))),
});

export function toParticipant(p: ParticipantWithUser, hostView: boolean): Static<typeof ParticipantResponse> {
  return {
    user: { id: p.userId, nickname: p.nickname, avatarUrl: p.avatarUrl },
    role: p.role,
    status: p.status as 'pending' | 'going' | 'waitlisted',
    confirmed: p.confirmedAt !== null,
    ...(hostView
      ? { message: p.message, waitlistedAt: isoOrNull(p.waitlistedAt), attendance: p.attendance }
      : {}),
  };
}

export const MembershipResponse = withExamples(
  Type.Object({
    eventId: Uuid,
    status: literals(['pending', 'going', 'waitlisted', 'cancelled', 'rejected', 'kicked']),
  }),
  EXAMPLES.membership,
);

export const InvitationResponse = withExamples(
  Type.Object({
    id: Uuid,
    eventId: Uuid,
    inviterId: Uuid,
    inviteeId: Uuid,
    status: literals(['pending', 'accepted', 'rejected', 'cancelled']),
    createdAt: IsoDateTime,
  }),
  EXAMPLES.invitation,
);

export function toInvitation(i: InvitationRow): Static<typeof InvitationResponse> {
  return {
    id: i.id,
    eventId: i.eventId,
    inviterId: i.inviterId,
    inviteeId: i.inviteeId,
    status: i.status,
    createdAt: iso(i.createdAt),
  };
}

export const MyInvitationResponse = Type.Object({
  id: Uuid,
  event: Type.Object({ id: Uuid, title: Type.String(), startsAt: IsoDateTime }),
  inviter: Type.Object({ id: Uuid, nickname: Type.String() }),
  createdAt: IsoDateTime,
});

export function toMyInvitation(i: InvitationWithEvent): Static<typeof MyInvitationResponse> {
  return {
    id: i.id,
    event: { id: i.eventId, title: i.eventTitle, startsAt: iso(i.eventStartsAt) },
    inviter: { id: i.inviterId, nickname: i.inviterNickname },
    createdAt: iso(i.createdAt),
  };
}

export const AttendanceSheet = withExamples(
  Type.Object({
    opensAt: IsoDateTime,
    closesAt: IsoDateTime,
    participants: Type.Array(
      Type.Object({
        user: Person,
        attendance: nullable(literals(['present', 'absent'])),
        markedBy: nullable(literals(['host', 'self'])),
      }),
    ),
  }),
  EXAMPLES.attendance,
);

export const Reason = Type.Enum(ALL_REASONS, {
  description: 'One of the ten reasons for the ratee role; the first five of each praise.',
});

export const RatingResponse = withExamples(
  Type.Object({
    id: Uuid,
    eventId: Uuid,
    rateeId: Uuid,
    rateeRole: literals(['host', 'attendee']),
    verdict: literals(['good', 'bad']),
    reason: Type.String(),
    createdAt: IsoDateTime,
  }),
  EXAMPLES.rating,
);

export function toRating(r: RatingRow): Static<typeof RatingResponse> {
  return {
    id: r.id,
    eventId: r.eventId,
    rateeId: r.rateeId,
    rateeRole: r.rateeRole,
    verdict: r.verdict,
    reason: r.reason,
    createdAt: iso(r.createdAt),
  };
}

export const ReputationResponse = withExamples(
  Type.Object(
    {
      mannerScore: Type.Number({
        description: '50 + good ratings − bad ratings + attendances − 2 × no-shows, between 0 and 100.',
        examples: [57],
      }),
      ratingsReceived: Type.Object({ good: Type.Integer(), bad: Type.Integer() }),
      attended: Type.Integer({ description: 'Events attended (marked present).' }),
      noShows: Type.Integer({ description: 'Events the host marked this person absent from.' }),
      hosted: Type.Integer({ description: 'Events hosted that have ended.' }),
      reasons: Type.Array(
        Type.Object({
          role: literals(['host', 'attendee']),
          reason: Type.String(),
          verdict: literals(['good', 'bad']),
          count: Type.Integer(),
        }),
        { description: 'How often each reason was given, as host and as attendee.' },
      ),
      hostingHistory: Type.Array(
        Type.Object({
          id: Uuid,
          title: Type.String(),
          kind: Kind,
          startsAt: IsoDateTime,
          attendees: Type.Integer(),
        }),
        { description: 'The latest public events this person hosted.' },
      ),
    },
    { $id: 'Reputation' },
  ),
  {
    mannerScore: 57,
    ratingsReceived: { good: 6, bad: 1 },
    attended: 4,
    noShows: 1,
    hosted: 3,
    reasons: [
      { role: 'host', reason: 'good_course', verdict: 'good', count: 4 },
      { role: 'host', reason: 'punctual', verdict: 'good', count: 2 },
      { role: 'host', reason: 'late', verdict: 'bad', count: 1 },
    ],
    hostingHistory: [
      {
        id: EXAMPLE.eventId,
        title: 'Han River 10K evening run',
        kind: 'run',
        startsAt: EXAMPLE.startsAt,
        attendees: 8,
      },
    ],
  },
);

export function toReputation(r: Reputation): Static<typeof ReputationResponse> {
  return {
    ...r,
    hostingHistory: r.hostingHistory.map((h) => ({
      id: h.id,
      title: h.title,
      kind: h.kind as Static<typeof Kind>,
      startsAt: iso(h.startsAt),
      attendees: h.attendees,
    })),
  };
}
