import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { actorOf, metaOf } from '../../http/auth.js';
import { EXAMPLE, errorResponses, IdParams, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
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

const CodeSent = withExamples(
  Type.Object({
    expiresInSeconds: Type.Integer({ description: 'The code works for this long.' }),
    retryAfterSeconds: Type.Integer({ description: 'Wait this long before asking for another code.' }),
  }),
  { expiresInSeconds: 300, retryAfterSeconds: 60 },
);
/** Example values of request bodies; none of them is a working credential. */
const EX = {
  password: 'correct horse battery',
  phone: '010-1234-5678',
  code: '482913',
  verificationId: '7e6d5c4b-3a29-4180-9f6e-5d4c3b2a1908',
  refreshToken: 'rt_example_0f8e7d6c5b4a39281706f5e4d3c2b1a0',
  device: 'Galaxy S24',
};

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
          200: withExamples(Type.Object({ nickname: Type.String(), available: Type.Boolean() }), {
            nickname: 'runner_kim',
            available: true,
          }),
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
        body: withExamples(
          Type.Object(
            { email: Email, password: NewPassword, nickname: Nickname, deviceName: DeviceName },
            { additionalProperties: false },
          ),
          { email: 'kim@example.com', password: EX.password, nickname: 'runner_kim', deviceName: EX.device },
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
        body: withExamples(
          Type.Object({ phone: PhoneInput, purpose: Purpose }, { additionalProperties: false }),
          {
            phone: EX.phone,
            purpose: 'signup',
          },
        ),
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
        body: withExamples(
          Type.Object(
            {
              phone: PhoneInput,
              purpose: Type.Union([Type.Literal('signup'), Type.Literal('change_phone')]),
              code: OtpCode,
            },
            { additionalProperties: false },
          ),
          { phone: EX.phone, purpose: 'signup', code: EX.code },
        ),
        response: {
          200: withExamples(Type.Object({ verificationId: Uuid, expiresInSeconds: Type.Integer() }), {
            verificationId: EX.verificationId,
            expiresInSeconds: 900,
          }),
        },
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
        body: withExamples(
          Type.Object(
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
          {
            phone: EX.phone,
            verificationId: EX.verificationId,
            password: EX.password,
            nickname: 'runner_kim',
            smsConsent: true,
            deviceName: EX.device,
          },
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
        body: withExamples(
          emailOrPhone({ password: Password, deviceName: DeviceName }),
          { email: 'kim@example.com', password: EX.password, deviceName: EX.device },
          { phone: EX.phone, password: EX.password },
        ),
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
        body: withExamples(
          Type.Object(
            { phone: PhoneInput, code: OtpCode, deviceName: DeviceName },
            { additionalProperties: false },
          ),
          { phone: EX.phone, code: EX.code, deviceName: EX.device },
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
        body: withExamples(
          Type.Object(
            { refreshToken: Type.String({ minLength: 16, maxLength: 200 }) },
            { additionalProperties: false },
          ),
          { refreshToken: EX.refreshToken },
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
        body: withExamples(
          Type.Object({ email: Email, purpose: Type.Literal('reset') }, { additionalProperties: false }),
          { email: 'kim@example.com', purpose: 'reset' },
        ),
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
        body: withExamples(emailOrPhone({ code: OtpCode, newPassword: NewPassword }), {
          email: 'kim@example.com',
          code: EX.code,
          newPassword: 'a new long passphrase',
        }),
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
        body: withExamples(
          Type.Object(
            { restoreToken: Type.String({ minLength: 16, maxLength: 200 }), deviceName: DeviceName },
            { additionalProperties: false },
          ),
          { restoreToken: 'rs_example_9a8b7c6d5e4f30211f2e3d4c5b6a7980', deviceName: EX.device },
        ),
        response: { 200: AuthResponse },
      },
    },
    async (request) => present(await auth.restore(request.body, metaOf(request))),
  );
};

const ProfilePatch = withExamples(
  Type.Object(
    {
      nickname: Type.Optional(Nickname),
      bio: Type.Optional(Type.Union([Type.String({ maxLength: 300 }), Type.Null()])),
      statusMessage: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
      interests: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 30 }), { maxItems: 10 })),
      mood: Type.Optional(Type.Union([Type.String({ maxLength: 30 }), Type.Null()])),
      preferredRegion: Type.Optional(Type.Union([RegionSchema, Type.Null()])),
      preferredDistanceKm: Type.Optional(
        Type.Union([Type.Integer({ minimum: 1, maximum: 100 }), Type.Null()]),
      ),
      level: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 4 }), Type.Null()])),
      smsConsent: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  {
    statusMessage: 'Training for the Seoul marathon',
    interests: ['running', 'hiking'],
    preferredDistanceKm: 10,
  },
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
        response: {
          200: withExamples(Type.Object({ items: Type.Array(SessionResponse) }), {
            items: [
              {
                id: EXAMPLE.sessionId,
                deviceName: EX.device,
                userAgent: 'Moim/1.4 (Android 15)',
                method: 'password',
                createdAt: '2026-04-20T07:12:00.000Z',
                lastUsedAt: EXAMPLE.now,
                expiresAt: '2026-05-31T09:00:00.000Z',
                current: true,
              },
            ],
          }),
        },
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
        response: { 200: withExamples(Type.Object({ revoked: Type.Integer() }), { revoked: 2 }) },
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
        body: withExamples(
          Type.Object(
            { currentPassword: Type.Optional(Password), newPassword: NewPassword },
            { additionalProperties: false },
          ),
          { currentPassword: EX.password, newPassword: 'a new long passphrase' },
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
        body: withExamples(
          Type.Object(
            { phone: PhoneInput, verificationId: Uuid, password: Type.Optional(Password) },
            { additionalProperties: false },
          ),
          { phone: '010-8765-4321', verificationId: EX.verificationId, password: EX.password },
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
          withExamples(Type.Object({ password: Type.Optional(Password) }, { additionalProperties: false }), {
            password: EX.password,
          }),
        ),
        response: {
          200: withExamples(Type.Object({ purgeAfter: IsoDateTime }), {
            purgeAfter: '2026-05-31T09:00:00.000Z',
          }),
          ...errorResponses(403),
        },
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
