import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { actorOf, metaOf } from '../../http/auth.js';
import { errorResponses, IdParams, IsoDateTime, Uuid } from '../../http/schemas.js';
import { AppError } from '../../shared/errors.js';
import {
  addAccountSchemas,
  AuthResponse,
  DeviceName,
  Email,
  MeResponse,
  NewPassword,
  Nickname,
  OtpCode,
  Password,
  PhoneInput,
  PublicUser,
  Purpose,
  RegionSchema,
  SessionResponse,
  TokenResponse,
  toAuthResponse,
  toMe,
  toPublicUser,
  toSession,
  toTokens,
} from './accounts.dto.js';
import type { AccountsModule } from './accounts.module.js';
import type { AuthResult } from './auth.service.js';
import { PROOF_TTL_MS } from './verification.service.js';

const CodeSent = Type.Object({
  expiresInSeconds: Type.Integer({ description: 'The code works for this long.' }),
  retryAfterSeconds: Type.Integer({ description: 'Wait this long before asking for another code.' }),
});

/**
 * Bodies that name the account by email or by phone. One object with both optional (and a check that exactly
 * one is given) rather than a union: Ajv strips unknown properties while trying each union branch.
 */
function emailOrPhone<T extends Record<string, TSchema>>(fields: T) {
  return Type.Object(
    {
      email: Type.Optional(Email),
      phone: Type.Optional(PhoneInput),
      ...fields,
    },
    { additionalProperties: false, description: 'Give exactly one of `email` and `phone`.' },
  );
}

function identifier<B extends { email?: string; phone?: string }>(
  body: B,
): { email: string } | { phone: string } {
  if (body.email !== undefined && body.phone === undefined) return { email: body.email };
  if (body.phone !== undefined && body.email === undefined) return { phone: body.phone };
  throw new AppError('VALIDATION_FAILED', 'Give exactly one of email and phone.', {
    details: [{ path: '/body', message: 'exactly one of email and phone is required' }],
  });
}

/** Sign-up, sign-in, tokens, codes, password reset and restore: everything before there is a session. */
export const authRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountsModule }> = async (
  app,
  { accounts },
) => {
  const { auth, sessions, verification, protector } = accounts;
  const present = (r: AuthResult) => toAuthResponse(r, protector);
  addAccountSchemas(app);

  app.get(
    '/auth/nickname-availability',
    {
      schema: {
        tags: ['auth'],
        summary: 'Whether a nickname is free',
        querystring: Type.Object({ nickname: Nickname }),
        response: {
          200: Type.Object({ nickname: Type.String(), available: Type.Boolean() }),
          ...errorResponses(),
        },
      },
    },
    async (request) => ({
      nickname: request.query.nickname,
      available: await auth.nicknameAvailable(request.query.nickname),
    }),
  );

  app.post(
    '/auth/signup/email',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account with email and password',
        body: Type.Object(
          { email: Email, password: NewPassword, nickname: Nickname, deviceName: DeviceName },
          { additionalProperties: false },
        ),
        response: { 201: AuthResponse, ...errorResponses(409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(present(await auth.signupWithEmail(request.body, metaOf(request)))),
  );

  app.post(
    '/auth/phone/send-code',
    {
      config: { auth: 'optional' },
      schema: {
        tags: ['auth'],
        summary: 'Send a 6-digit code by SMS',
        description:
          'Answers the same whether or not an account uses the number. At most one code a minute per number, ' +
          'daily caps per number and per IP. `change_phone` needs a signed-in user.',
        body: Type.Object({ phone: PhoneInput, purpose: Purpose }, { additionalProperties: false }),
        response: { 202: CodeSent, ...errorResponses(503) },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await verification.sendPhoneCode(request.body, request.actor, metaOf(request))),
  );

  app.post(
    '/auth/phone/verify',
    {
      schema: {
        tags: ['auth'],
        summary: 'Check an SMS code and get a verification id',
        description:
          'For `signup` and `change_phone`: the returned id proves the number for 15 minutes and is spent by ' +
          '/v1/auth/signup/phone or /v1/me/phone. A code dies after 5 wrong attempts.',
        body: Type.Object(
          {
            phone: PhoneInput,
            purpose: Type.Union([Type.Literal('signup'), Type.Literal('change_phone')]),
            code: OtpCode,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ verificationId: Uuid, expiresInSeconds: Type.Integer() }) },
      },
    },
    async (request) => {
      const { phone, purpose, code } = request.body;
      const verificationId = await verification.verify(
        { channel: 'sms', phone: verification.phone(phone) },
        purpose,
        code,
        metaOf(request),
      );
      return { verificationId, expiresInSeconds: PROOF_TTL_MS / 1000 };
    },
  );

  app.post(
    '/auth/signup/phone',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account with a verified phone number and a password',
        body: Type.Object(
          {
            phone: PhoneInput,
            verificationId: Uuid,
            password: NewPassword,
            nickname: Nickname,
            smsConsent: Type.Optional(Type.Boolean()),
            deviceName: DeviceName,
          },
          { additionalProperties: false },
        ),
        response: { 201: AuthResponse, ...errorResponses(409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(present(await auth.signupWithPhone(request.body, metaOf(request)))),
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email or phone and password',
        description:
          'Wrong password and unknown account answer the same 401. Repeated failures are throttled per ' +
          'account and per IP (429 with Retry-After) and the throttle expires by itself. A deleted account ' +
          'within its restore window answers 403 ACCOUNT_PENDING_DELETION with a `restoreToken` in details.',
        body: emailOrPhone({ password: Password, deviceName: DeviceName }),
        response: { 200: AuthResponse, ...errorResponses(403) },
      },
    },
    async (request) => {
      const { password, deviceName } = request.body;
      return present(
        await auth.login({ ...identifier(request.body), password, deviceName }, metaOf(request)),
      );
    },
  );

  app.post(
    '/auth/login/phone-code',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with an SMS code (purpose `login`)',
        body: Type.Object(
          { phone: PhoneInput, code: OtpCode, deviceName: DeviceName },
          { additionalProperties: false },
        ),
        response: { 200: AuthResponse, ...errorResponses(403) },
      },
    },
    async (request) => present(await auth.loginWithPhoneCode(request.body, metaOf(request))),
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for new tokens',
        description:
          'Every use returns a new refresh token. Retrying with the previous one within 10 s returns the same ' +
          'new pair; any other reuse ends the session (401 TOKEN_REUSED).',
        body: Type.Object(
          { refreshToken: Type.String({ minLength: 16, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: TokenResponse, ...errorResponses(401) },
      },
    },
    async (request) => toTokens(await sessions.refresh(request.body.refreshToken, metaOf(request))),
  );

  app.post(
    '/auth/logout',
    {
      config: { auth: 'required' },
      schema: { tags: ['auth'], summary: 'End this session', response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      await sessions.revoke(actor, actor.sessionId, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/email/send-code',
    {
      schema: {
        tags: ['auth'],
        summary: 'Mail a password reset code to an email account',
        description: 'Answers the same whether or not the account exists.',
        body: Type.Object({ email: Email, purpose: Type.Literal('reset') }, { additionalProperties: false }),
        response: { 202: CodeSent },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await auth.requestEmailReset(request.body.email, metaOf(request))),
  );

  app.post(
    '/auth/password/reset',
    {
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset code (SMS for phone accounts, mail for email accounts)',
        description: 'Every session of the account ends.',
        body: emailOrPhone({ code: OtpCode, newPassword: NewPassword }),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const { code, newPassword } = request.body;
      await auth.resetPassword({ ...identifier(request.body), code, newPassword }, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/restore',
    {
      schema: {
        tags: ['auth'],
        summary: 'Restore an account scheduled for deletion and sign in',
        body: Type.Object(
          { restoreToken: Type.String({ minLength: 16, maxLength: 200 }), deviceName: DeviceName },
          { additionalProperties: false },
        ),
        response: { 200: AuthResponse },
      },
    },
    async (request) => present(await auth.restore(request.body, metaOf(request))),
  );
};

const ProfilePatch = Type.Object(
  {
    nickname: Type.Optional(Nickname),
    bio: Type.Optional(Type.Union([Type.String({ maxLength: 300 }), Type.Null()])),
    statusMessage: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
    interests: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 30 }), { maxItems: 10 })),
    mood: Type.Optional(Type.Union([Type.String({ maxLength: 30 }), Type.Null()])),
    preferredRegion: Type.Optional(Type.Union([RegionSchema, Type.Null()])),
    preferredDistanceKm: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 100 }), Type.Null()])),
    level: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 4 }), Type.Null()])),
    smsConsent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** The signed-in person's own account. */
export const meRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountsModule }> = async (
  app,
  { accounts },
) => {
  const { account, sessions, protector } = accounts;
  const me = async (r: Awaited<ReturnType<typeof account.me>>) => toMe(r.user, r.identities, protector);

  app.get(
    '/me',
    {
      config: { auth: 'required' },
      schema: { tags: ['me'], summary: 'My account', response: { 200: MeResponse } },
    },
    async (request) => me(await account.me(actorOf(request))),
  );

  app.patch(
    '/me',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Update my profile',
        description: 'Setting `preferredRegion` completes onboarding (`needsOnboarding` becomes false).',
        body: ProfilePatch,
        response: { 200: MeResponse, ...errorResponses(409) },
      },
    },
    async (request) => me(await account.updateProfile(actorOf(request), request.body)),
  );

  app.get(
    '/me/sessions',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'My signed-in devices',
        response: { 200: Type.Object({ items: Type.Array(SessionResponse) }) },
      },
    },
    async (request) => ({ items: (await sessions.list(actorOf(request))).map(toSession) }),
  );

  app.delete(
    '/me/sessions/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Sign out one of my devices',
        description: 'Its tokens stop working on the next request and its sockets are disconnected.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await sessions.revoke(actorOf(request), request.params.id, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/me/sessions/revoke-others',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Sign out every device but this one',
        response: { 200: Type.Object({ revoked: Type.Integer() }) },
      },
    },
    async (request) => ({ revoked: await sessions.revokeOthers(actorOf(request), metaOf(request)) }),
  );

  app.post(
    '/me/password',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Change (or set) my password',
        description: 'Needs the current password when there is one. Other sessions end.',
        body: Type.Object(
          { currentPassword: Type.Optional(Password), newPassword: NewPassword },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses(403) },
      },
    },
    async (request, reply) => {
      await account.changePassword(actorOf(request), request.body, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/me/phone',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Change my phone number',
        description:
          'First send a `change_phone` code to the new number and verify it; then post the verification id ' +
          'here with the current password (if the account has one). Other sessions end.',
        body: Type.Object(
          { phone: PhoneInput, verificationId: Uuid, password: Type.Optional(Password) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses(403, 409) },
      },
    },
    async (request, reply) => {
      await account.changePhone(actorOf(request), request.body, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/me',
    {
      config: { auth: 'required' },
      // The body is optional (social-only accounts have no password to send).
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['me'],
        summary: 'Delete my account',
        description:
          'Needs the current password (or, for social-only accounts, a sign-in within the last 10 minutes). ' +
          'Every session ends at once. Signing in within 30 days offers to restore the account; after that ' +
          'its personal data is erased.',
        body: Type.Optional(
          Type.Object({ password: Type.Optional(Password) }, { additionalProperties: false }),
        ),
        response: { 200: Type.Object({ purgeAfter: IsoDateTime }), ...errorResponses(403) },
      },
    },
    async (request) => ({
      purgeAfter: (
        await account.deleteAccount(actorOf(request), request.body ?? {}, metaOf(request))
      ).toISOString(),
    }),
  );

  app.get(
    '/users/:id',
    {
      config: { auth: 'optional' },
      schema: {
        tags: ['users'],
        summary: "A person's public profile card",
        params: IdParams,
        response: { 200: PublicUser, ...errorResponses(404) },
      },
    },
    async (request) => toPublicUser(await account.publicProfile(request.params.id)),
  );
};
