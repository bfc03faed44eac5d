import { Type, type Static } from 'typebox';
import { EXAMPLE, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import type { DataProtector } from '../../infra/crypto.js';
import { maskPhone } from '../../infra/sms/sms.js';
import { REGIONS } from '../../shared/regions.js';
import type { IdentityRow, SessionRow, UserRow } from './accounts.repository.js';
import type { AuthResult } from './auth.service.js';
import type { TokenPair } from './sessions.service.js';

/** Request and response shapes of the accounts routes, and the presenters that fill them. */

export const Nickname = Type.String({
  minLength: 2,
  maxLength: 20,
  pattern: '^[\\p{L}\\p{N}_.\\-]+$',
  description: '2 to 20 letters (any script), digits, `_`, `.` or `-`.',
  examples: ['runner_kim'],
});
export const Email = Type.String({ format: 'email', maxLength: 254, examples: ['kim@example.com'] });
export const PhoneInput = Type.String({
  minLength: 8,
  maxLength: 20,
  pattern: '^[0-9+() .\\-]+$',
  description: 'A mobile number as people type it: 010-1234-5678, 01012345678 or +82 10 1234 5678.',
  examples: ['010-1234-5678'],
});
export const Password = Type.String({
  minLength: 1,
  maxLength: 128,
  description: '8 to 72 characters; not a common password.',
});
export const NewPassword = Type.String({ minLength: 8, maxLength: 72, examples: ['correct horse battery'] });
export const OtpCode = Type.String({
  pattern: '^[0-9]{6}$',
  description: 'The 6-digit code.',
  examples: ['123456'],
});
export const DeviceName = Type.Optional(
  Type.String({ maxLength: 64, description: 'Shown in the session list, e.g. "Galaxy S24".' }),
);
export const Purpose = Type.Union(
  [Type.Literal('signup'), Type.Literal('login'), Type.Literal('reset'), Type.Literal('change_phone')],
  { description: 'What the code will be used for; a code only works for its purpose.' },
);
export const RegionSchema = Type.Union(
  REGIONS.map((r) => Type.Literal(r)),
  { description: 'Korean region.' },
);

/** Examples of the accounts routes' bodies, for the OpenAPI document (no real credential looks like these). */
export const ACCOUNT_EXAMPLES = {
  tokens: {
    tokenType: 'Bearer' as const,
    accessToken: 'eyJhbGciOiJFZERTQSJ9.example-access-token.signature',
    accessTokenExpiresAt: '2026-05-01T09:15:00.000Z',
    refreshToken: 'rt_example_0f8e7d6c5b4a39281706f5e4d3c2b1a0',
    sessionId: EXAMPLE.sessionId,
  },
  me: {
    id: EXAMPLE.userId,
    nickname: 'runner_kim',
    email: 'kim@example.com',
    emailVerified: true,
    phone: '+82-10-****-5678',
    hasPassword: true,
    providers: ['kakao' as const],
    bio: 'Weekend trail runner in Mapo.',
    statusMessage: 'Training for the Seoul marathon',
    interests: ['running', 'hiking'],
    mood: null,
    preferredRegion: 'seoul' as const,
    preferredDistanceKm: 10,
    level: 2,
    smsConsent: false,
    avatarUrl: null,
    needsOnboarding: false,
    role: 'user' as const,
    createdAt: '2026-03-14T08:30:00.000Z',
  },
  publicUser: {
    id: EXAMPLE.userId,
    nickname: 'runner_kim',
    avatarUrl: null,
    bio: 'Weekend trail runner in Mapo.',
    statusMessage: 'Training for the Seoul marathon',
    interests: ['running', 'hiking'],
    level: 2,
    createdAt: '2026-03-14T08:30:00.000Z',
  },
};

export const TokenResponse = Type.Object(
  {
    tokenType: Type.Literal('Bearer'),
    accessToken: Type.String({ description: 'JWT for `Authorization: Bearer`; valid 15 minutes.' }),
    accessTokenExpiresAt: IsoDateTime,
    refreshToken: Type.String({
      description:
        'Opaque; exchange it at /v1/auth/refresh. Each use returns a new one; keep only the newest.',
    }),
    sessionId: Uuid,
  },
  { $id: 'TokenResponse', examples: [ACCOUNT_EXAMPLES.tokens] },
);

export const MeResponse = Type.Object(
  {
    id: Uuid,
    nickname: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    emailVerified: Type.Boolean(),
    phone: Type.Union([Type.String(), Type.Null()], { description: 'Masked, e.g. +82-10-****-5678.' }),
    hasPassword: Type.Boolean(),
    providers: Type.Array(Type.Union([Type.Literal('kakao'), Type.Literal('naver'), Type.Literal('google')])),
    bio: Type.Union([Type.String(), Type.Null()]),
    statusMessage: Type.Union([Type.String(), Type.Null()]),
    interests: Type.Array(Type.String()),
    mood: Type.Union([Type.String(), Type.Null()]),
    preferredRegion: Type.Union([RegionSchema, Type.Null()]),
    preferredDistanceKm: Type.Union([Type.Integer(), Type.Null()]),
    level: Type.Union([Type.Integer(), Type.Null()], { description: 'Self-declared level, 0 to 4.' }),
    smsConsent: Type.Boolean(),
    avatarUrl: Type.Union([Type.String(), Type.Null()]),
    needsOnboarding: Type.Boolean(),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    createdAt: IsoDateTime,
  },
  { $id: 'Me', examples: [ACCOUNT_EXAMPLES.me] },
);
export type MeResponse = Static<typeof MeResponse>;

export const AuthResponse = withExamples(
  Type.Object({
    tokens: Type.Ref('TokenResponse'),
    user: Type.Ref('Me'),
    isNewUser: Type.Boolean(),
  }),
  { tokens: ACCOUNT_EXAMPLES.tokens, user: ACCOUNT_EXAMPLES.me, isNewUser: false },
);

export const PublicUser = Type.Object(
  {
    id: Uuid,
    nickname: Type.String(),
    avatarUrl: Type.Union([Type.String(), Type.Null()]),
    bio: Type.Union([Type.String(), Type.Null()]),
    statusMessage: Type.Union([Type.String(), Type.Null()]),
    interests: Type.Array(Type.String()),
    level: Type.Union([Type.Integer(), Type.Null()]),
    createdAt: IsoDateTime,
  },
  { $id: 'PublicUser', examples: [ACCOUNT_EXAMPLES.publicUser] },
);
export type PublicUser = Static<typeof PublicUser>;

export const SessionResponse = Type.Object({
  id: Uuid,
  deviceName: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  createdAt: IsoDateTime,
  lastUsedAt: IsoDateTime,
  expiresAt: IsoDateTime,
  current: Type.Boolean({ description: 'The session making this request.' }),
});

export function toTokens(t: TokenPair) {
  return { ...t, accessTokenExpiresAt: t.accessTokenExpiresAt.toISOString() };
}

export function toMe(user: UserRow, identities: IdentityRow[], protector: DataProtector): MeResponse {
  return {
    id: user.id,
    nickname: user.nickname,
    email: user.email,
    emailVerified: user.emailVerified,
    phone: user.phoneEnc ? maskPhone(protector.decrypt('phone', user.phoneEnc)) : null,
    hasPassword: user.passwordHash !== null,
    providers: identities.map((i) => i.provider),
    bio: user.bio,
    statusMessage: user.statusMessage,
    interests: user.interests,
    mood: user.mood,
    preferredRegion: user.preferredRegion as MeResponse['preferredRegion'],
    preferredDistanceKm: user.preferredDistanceKm,
    level: user.level,
    smsConsent: user.smsConsent,
    avatarUrl: user.avatarUrl,
    needsOnboarding: user.needsOnboarding,
    role: user.role,
    createdAt: user.createdAt.toISOString(),
  };
}

/** The answer of every sign-in and sign-up: tokens, the account, and whether it was just created. */
export function toAuthResponse(r: AuthResult, protector: DataProtector) {
  return { tokens: toTokens(r.tokens), user: toMe(r.user, [], protector), isNewUser: r.isNewUser };
}

export function toPublicUser(user: UserRow): PublicUser {
  return {
    id: user.id,
    nickname: user.nickname,
    avatarUrl: user.avatarUrl,
    bio: user.bio,
    statusMessage: user.statusMessage,
    interests: user.interests,
    level: user.level,
    createdAt: user.createdAt.toISOString(),
  };
}

export function toSession(s: SessionRow & { current: boolean }) {
  return {
    id: s.id,
    deviceName: s.deviceName,
    userAgent: s.userAgent,
    method: s.method,
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    current: s.current,
  };
}

/** Adds the schemas the accounts routes reference by `$ref`, to one route plugin's encapsulation context. */
export function addAccountSchemas(app: { addSchema(schema: unknown): unknown }): void {
  app.addSchema(TokenResponse);
  app.addSchema(MeResponse);
}
