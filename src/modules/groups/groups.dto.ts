import { Type, type Static, type TSchema } from 'typebox';
import { EXAMPLE, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import { REGIONS } from '../../shared/regions.js';
import { canManage, seesAll, type GroupViewer } from './groups.policy.js';
import type {
  BanRow,
  GroupRow,
  InvitationRow,
  InvitationWithGroup,
  InviteLinkRow,
  JoinRequestRow,
  MemberWithUser,
  MyGroup,
  PersonCard,
} from './groups.repository.js';
import { GROUP_KINDS, GROUP_ROLES, JOIN_POLICIES } from './groups.schema.js';

/** Request and response shapes of the groups routes, and the presenters that fill them. */

const literals = <const T extends readonly string[]>(values: T, description?: string) =>
  Type.Enum<[...T]>([...values], description === undefined ? {} : { description });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const Kind = literals(GROUP_KINDS, 'What sort of group.');
const Role = literals(GROUP_ROLES, 'Role in the group.');
const Policy = literals(
  JOIN_POLICIES,
  '`open`: join at once; `approval`: admins accept each request; `invite_only`: by invitation or link.',
);
const Visibility = literals(
  ['public', 'private'],
  'Private: invisible (404) to everyone but members and invitees; its events are private.',
);
const Lat = Type.Number({ minimum: -90, maximum: 90, examples: [37.5283] });
const Lng = Type.Number({ minimum: -180, maximum: 180, examples: [126.9326] });
export const DisplayName = Type.String({
  minLength: 1,
  maxLength: 30,
  description: 'What this member is called inside the group; unique within it.',
  examples: ['Mom'],
});
const Person = Type.Object({ id: Uuid, nickname: Type.String(), avatarUrl: nullable(Type.String()) });

/** Examples of the groups routes' bodies, for the OpenAPI document: a running crew and a family. */
const kim = { id: EXAMPLE.userId, nickname: 'runner_kim', avatarUrl: null };
const jisoo = { id: EXAMPLE.otherUserId, nickname: 'jisoo_runs', avatarUrl: null };
const familyGroupId = '7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f';
const crew = {
  id: EXAMPLE.groupId,
  view: 'full' as const,
  name: 'Han River Runners',
  kind: 'crew' as const,
  visibility: 'public' as const,
  joinPolicy: 'approval' as const,
  memberCount: 12,
  memberCap: 30,
  description: 'We run 10K along the river every Wednesday.',
  tags: ['running', 'weeknight'],
  region: 'seoul',
  lat: 37.5283,
  lng: 126.9326,
  createdAt: '2026-03-01T09:00:00.000Z',
  updatedAt: '2026-04-12T21:30:00.000Z',
};
const family = {
  id: familyGroupId,
  name: 'Kim family',
  kind: 'family' as const,
  visibility: 'private' as const,
  joinPolicy: 'invite_only' as const,
  memberCount: 4,
  memberCap: null,
};
const link = {
  id: '6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c',
  groupId: EXAMPLE.groupId,
  expiresAt: '2026-05-04T09:00:00.000Z',
  maxUses: 10,
  uses: 0,
  createdAt: EXAMPLE.now,
};
const asOwner = (displayName: string) => ({
  role: 'owner' as const,
  displayName,
  invitationId: null,
  requested: false,
  banned: false,
});
export const EXAMPLES = {
  group: {
    ...crew,
    owner: kim,
    viewer: {
      role: 'member' as const,
      displayName: null,
      invitationId: null,
      requested: false,
      banned: false,
    },
  },
  publicGroups: {
    items: [
      { ...crew, viewer: null },
      {
        id: 'b3c4d5e6-f7a8-4b9c-8d0e-1f2a3b4c5d6e',
        view: 'full' as const,
        name: 'Mangwon Sunday Walkers',
        kind: 'club' as const,
        visibility: 'public' as const,
        joinPolicy: 'open' as const,
        memberCount: 27,
        memberCap: null,
        description: 'A slow 5K walk around Mangwon Hangang Park, then coffee.',
        tags: ['walking', 'weekend'],
        region: 'seoul',
        lat: 37.5551,
        lng: 126.8955,
        createdAt: '2026-02-14T08:00:00.000Z',
        updatedAt: '2026-02-14T08:00:00.000Z',
        viewer: null,
      },
    ],
    nextCursor: 'MjAyNi0wMi0xNFQwODowMDowMC4wMDBafGIzYzRkNWU2',
  },
  myGroups: {
    items: [
      {
        group: { ...crew, viewer: asOwner('Captain Kim') },
        role: 'owner' as const,
        displayName: 'Captain Kim',
        joinedAt: crew.createdAt,
      },
      {
        group: {
          ...family,
          view: 'full' as const,
          description: 'Weekend plans and visits to Grandma in Suwon.',
          tags: ['family'],
          region: null,
          lat: null,
          lng: null,
          createdAt: '2026-01-10T11:00:00.000Z',
          updatedAt: '2026-01-10T11:00:00.000Z',
          viewer: asOwner('Dad'),
        },
        role: 'owner' as const,
        displayName: 'Dad',
        joinedAt: '2026-01-10T11:00:00.000Z',
      },
    ],
  },
  member: {
    user: jisoo,
    role: 'member' as const,
    displayName: null,
    joinedAt: '2026-04-02T10:00:00.000Z',
  },
  members: {
    items: [
      { user: kim, role: 'owner' as const, displayName: 'Captain Kim', joinedAt: crew.createdAt },
      { user: jisoo, role: 'admin' as const, displayName: null, joinedAt: '2026-03-04T19:30:00.000Z' },
    ],
    nextCursor: null,
  },
  membership: {
    groupId: EXAMPLE.groupId,
    status: 'member' as const,
    role: 'member' as const,
    displayName: null,
  },
  joinRequest: {
    id: '8d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6',
    user: { id: '2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b', nickname: 'minjun_10k', avatarUrl: null },
    message: 'I run 10K in 55 minutes and live near Yeouido.',
    status: 'pending' as const,
    createdAt: '2026-04-30T20:15:00.000Z',
  },
  invitation: {
    id: EXAMPLE.invitationId,
    groupId: familyGroupId,
    via: 'email' as const,
    invitee: null,
    contactHint: 'gr***@example.com',
    inviter: kim,
    status: 'pending' as const,
    createdAt: EXAMPLE.now,
    expiresAt: '2026-05-15T09:00:00.000Z',
  },
  phoneInvitation: {
    id: '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d',
    groupId: familyGroupId,
    via: 'phone' as const,
    invitee: null,
    contactHint: '+82-10-****-5678',
    inviter: kim,
    status: 'pending' as const,
    createdAt: '2026-05-01T09:05:00.000Z',
    expiresAt: '2026-05-15T09:05:00.000Z',
  },
  myInvitation: {
    id: EXAMPLE.invitationId,
    group: {
      ...family,
      view: 'preview' as const,
      viewer: {
        role: null,
        displayName: null,
        invitationId: EXAMPLE.invitationId,
        requested: false,
        banned: false,
      },
    },
    inviter: kim,
    createdAt: EXAMPLE.now,
    expiresAt: '2026-05-15T09:00:00.000Z',
  },
  inviteLink: { ...link, token: 'V2hhdC1hLWZpbmUtZXhhbXBsZS10b2tlbg' },
  inviteLinks: { items: [{ ...link, uses: 3 }] },
  ban: {
    user: { id: '9f0a1b2c-3d4e-4f5a-8b6c-7d8e9f0a1b2c', nickname: 'speedy_lee', avatarUrl: null },
    reason: 'Kept posting ads for running shoes in the crew chat.',
    createdAt: '2026-04-20T12:00:00.000Z',
  },
};

const editable = {
  name: Type.String({ minLength: 2, maxLength: 60, examples: ['Han River Runners'] }),
  description: Type.Optional(
    nullable(Type.String({ maxLength: 2000, examples: ['We run 10K along the river every Wednesday.'] })),
  ),
  kind: Type.Optional(Kind),
  tags: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 30 }), {
      maxItems: 10,
      description: 'Up to 10 tags; trimmed, lower-cased, deduplicated.',
      examples: [['running', 'weeknight']],
    }),
  ),
  region: Type.Optional(nullable(literals(REGIONS, 'Korean region; default: derived from lat/lng.'))),
  lat: Type.Optional(nullable(Lat)),
  lng: Type.Optional(nullable(Lng)),
  visibility: Type.Optional(Visibility),
  joinPolicy: Type.Optional(Policy),
  memberCap: Type.Optional(
    nullable(
      Type.Integer({
        minimum: 2,
        maximum: 100_000,
        description: 'Most members, the owner included; null: no limit.',
        examples: [30],
      }),
    ),
  ),
};

export const CreateGroupBody = Type.Object(
  { ...editable, displayName: Type.Optional(nullable(DisplayName)) },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'Kim family',
        kind: 'family',
        visibility: 'private',
        joinPolicy: 'invite_only',
        displayName: 'Dad',
      },
      {
        name: 'Han River Runners',
        kind: 'crew',
        tags: ['running'],
        lat: 37.5283,
        lng: 126.9326,
        joinPolicy: 'approval',
        memberCap: 30,
      },
    ],
  },
);
export const UpdateGroupBody = Type.Partial(Type.Object(editable, { additionalProperties: false }), {
  additionalProperties: false,
  minProperties: 1,
  examples: [{ joinPolicy: 'open', memberCap: 50 }],
});

const ViewerState = Type.Object(
  {
    role: nullable(Role),
    displayName: nullable(Type.String()),
    invitationId: nullable({ ...Uuid, description: 'A pending invitation to the caller.' }),
    requested: Type.Boolean({ description: 'The caller asked to join and waits for the admins.' }),
    banned: Type.Boolean(),
  },
  { description: 'What the caller is to this group.' },
);

export const GroupResponse = Type.Object(
  {
    id: Uuid,
    view: literals(
      ['full', 'preview'],
      '`preview`: someone invited to a private group sees only its name, kind and size until they join.',
    ),
    name: Type.String(),
    kind: Kind,
    visibility: Visibility,
    joinPolicy: Policy,
    memberCount: Type.Integer(),
    memberCap: nullable(Type.Integer()),
    description: Type.Optional(nullable(Type.String())),
    tags: Type.Optional(Type.Array(Type.String())),
    region: Type.Optional(nullable(Type.String())),
    lat: Type.Optional(nullable(Type.Number())),
    lng: Type.Optional(nullable(Type.Number())),
    owner: Type.Optional(Person),
    createdAt: Type.Optional(IsoDateTime),
    updatedAt: Type.Optional(IsoDateTime),
    viewer: nullable(ViewerState),
  },
  {
    $id: 'Group',
    examples: [EXAMPLES.group],
  },
);
export type GroupView = Static<typeof GroupResponse>;

export function toViewer(viewer: GroupViewer): Static<typeof ViewerState> | null {
  if (viewer.userId === null) return null;
  return {
    role: viewer.member?.role ?? null,
    displayName: viewer.member?.displayName ?? null,
    invitationId: viewer.invitation?.id ?? null,
    requested: viewer.request !== null,
    banned: viewer.banned,
  };
}

/** The group as this viewer may see it: whole, or the preview an invitee to a private group gets. */
export function toGroup(group: GroupRow, viewer: GroupViewer | null, owner: PersonCard | null): GroupView {
  const base = {
    id: group.id,
    name: group.name,
    kind: group.kind,
    visibility: group.visibility,
    joinPolicy: group.joinPolicy,
    memberCount: group.memberCount,
    memberCap: group.memberCap,
    viewer: viewer ? toViewer(viewer) : null,
  };
  const whole = viewer === null ? group.visibility === 'public' : seesAll(group, viewer);
  if (!whole) return { ...base, view: 'preview' };
  return {
    ...base,
    view: 'full',
    description: group.description,
    tags: group.tags,
    region: group.region,
    lat: group.lat,
    lng: group.lng,
    ...(owner ? { owner } : {}),
    createdAt: group.createdAt.toISOString(),
    updatedAt: group.updatedAt.toISOString(),
  };
}

export const MemberResponse = Type.Object(
  {
    user: Person,
    role: Role,
    displayName: nullable(Type.String()),
    joinedAt: IsoDateTime,
  },
  {
    examples: [EXAMPLES.member],
  },
);

export function toMember(m: MemberWithUser): Static<typeof MemberResponse> {
  return {
    user: { id: m.userId, nickname: m.nickname, avatarUrl: m.avatarUrl },
    role: m.role,
    displayName: m.displayName,
    joinedAt: m.joinedAt.toISOString(),
  };
}

export const MembershipResponse = Type.Object(
  {
    groupId: Uuid,
    status: literals(['member', 'requested'], '`requested`: the admins will decide.'),
    role: nullable(Role),
    displayName: nullable(Type.String()),
  },
  {
    examples: [EXAMPLES.membership],
  },
);

export const MyGroupResponse = Type.Object({
  group: Type.Ref('Group'),
  role: Role,
  displayName: nullable(Type.String()),
  joinedAt: IsoDateTime,
});

export function toMyGroup(g: MyGroup): Static<typeof MyGroupResponse> {
  const viewer: GroupViewer = {
    userId: '',
    member: {
      groupId: g.group.id,
      userId: '',
      role: g.role,
      displayName: g.displayName,
      joinedAt: g.joinedAt,
    },
    banned: false,
    invitation: null,
    request: null,
  };
  return {
    group: toGroup(g.group, viewer, null),
    role: g.role,
    displayName: g.displayName,
    joinedAt: g.joinedAt.toISOString(),
  };
}

export const JoinRequestResponse = Type.Object(
  {
    id: Uuid,
    user: Person,
    message: nullable(Type.String()),
    status: literals(['pending', 'approved', 'rejected', 'cancelled']),
    createdAt: IsoDateTime,
  },
  {
    examples: [EXAMPLES.joinRequest],
  },
);

export function toRequest(r: JoinRequestRow & { user: PersonCard }): Static<typeof JoinRequestResponse> {
  return {
    id: r.id,
    user: r.user,
    message: r.message,
    status: r.status,
    createdAt: r.createdAt.toISOString(),
  };
}

// One object with exactly one key rather than a union: the validator drops unknown properties per branch, so
// a union would strip `email` while trying the `userId` branch.
export const InviteBody = Type.Object(
  {
    userId: Type.Optional(Uuid),
    phone: Type.Optional(
      Type.String({ minLength: 6, maxLength: 32, description: 'Mobile number of the invitee.' }),
    ),
    email: Type.Optional(
      Type.String({ format: 'email', maxLength: 254, description: 'Email address of the invitee.' }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    description:
      'Exactly one of `userId`, `phone` or `email`. By phone or email the answer (202) is the same whether ' +
      'or not someone holds the contact.',
    examples: [{ userId: '5a1d2c3b-0e4f-4a5b-8c6d-7e8f9a0b1c2d' }, { email: 'grandma@example.com' }],
  },
);

export const InvitationResponse = Type.Object(
  {
    id: Uuid,
    groupId: Uuid,
    via: literals(['user', 'phone', 'email']),
    invitee: nullable({
      ...Person,
      description: 'Who is invited; always null for invitations by phone or email.',
    }),
    contactHint: nullable(Type.String({ description: 'The phone number or email, masked.' })),
    inviter: Type.Optional(Person),
    status: literals(['pending', 'accepted', 'rejected', 'cancelled']),
    createdAt: IsoDateTime,
    expiresAt: IsoDateTime,
  },
  {
    examples: [EXAMPLES.invitation],
  },
);

/** Never names the invitee of a contact invitation: that would tell the inviter who holds the number. */
export function toInvitation(
  i: InvitationRow & { invitee?: PersonCard | null; inviter?: PersonCard },
): Static<typeof InvitationResponse> {
  return {
    id: i.id,
    groupId: i.groupId,
    via: i.via,
    invitee: i.via === 'user' ? (i.invitee ?? null) : null,
    contactHint: i.via === 'user' ? null : i.contactHint,
    ...(i.inviter ? { inviter: i.inviter } : {}),
    status: i.status,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
  };
}

export const MyInvitationResponse = Type.Object({
  id: Uuid,
  group: Type.Ref('Group'),
  inviter: Person,
  createdAt: IsoDateTime,
  expiresAt: IsoDateTime,
});

export function toMyInvitation(
  i: InvitationWithGroup,
  viewer: GroupViewer,
): Static<typeof MyInvitationResponse> {
  return {
    id: i.id,
    group: toGroup(i.group, viewer, null),
    inviter: i.inviter,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
  };
}

export const InviteLinkResponse = Type.Object(
  {
    id: Uuid,
    groupId: Uuid,
    token: Type.Optional(
      Type.String({ description: 'The secret of the link; given once, when the link is made.' }),
    ),
    expiresAt: IsoDateTime,
    maxUses: nullable(Type.Integer()),
    uses: Type.Integer(),
    createdAt: IsoDateTime,
  },
  {
    examples: [EXAMPLES.inviteLink],
  },
);

export function toLink(link: InviteLinkRow, token?: string): Static<typeof InviteLinkResponse> {
  return {
    id: link.id,
    groupId: link.groupId,
    ...(token ? { token } : {}),
    expiresAt: link.expiresAt.toISOString(),
    maxUses: link.maxUses,
    uses: link.uses,
    createdAt: link.createdAt.toISOString(),
  };
}

export const BanResponse = withExamples(
  Type.Object({
    user: Person,
    reason: nullable(Type.String()),
    createdAt: IsoDateTime,
  }),
  EXAMPLES.ban,
);

export function toBan(b: BanRow & { user: PersonCard }): Static<typeof BanResponse> {
  return { user: b.user, reason: b.reason, createdAt: b.createdAt.toISOString() };
}

export { canManage };
