import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import { actorOf, metaOf } from '../../http/auth.js';
import { readCookie, setCookie } from '../../http/cookies.js';
import { errorResponses, withExamples } from '../../http/schemas.js';
import { addAccountSchemas, AuthResponse, DeviceName, toAuthResponse } from './accounts.dto.js';
import type { AccountsModule } from './accounts.module.js';
import { STATE_TTL_MS, type AuthorizationStart } from './oauth.service.js';

/** Holds the browser key of a started social sign-in; sent only to that provider's callback. */
const STATE_COOKIE = 'moim_oauth';

const ProviderParams = Type.Object({
  provider: Type.Union([Type.Literal('kakao'), Type.Literal('naver'), Type.Literal('google')]),
});
const RedirectUri = Type.String({
  maxLength: 2048,
  description: "Where the browser returns when done: one of your app's URLs on OAUTH_REDIRECT_ALLOWLIST.",
  examples: ['https://app.example.com/auth/done'],
});
const CodeChallenge = Type.Optional(
  Type.String({
    pattern: '^[A-Za-z0-9_-]{43}$',
    description:
      'Optional PKCE S256 challenge of your app: the exchange then needs the matching `codeVerifier`, so a ' +
      'code intercepted on its way back to the app is useless.',
  }),
);

/** Social login: the browser flow, the code exchange, native-app tokens, and linking providers. */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountsModule }> = async (
  app,
  { accounts },
) => {
  addAccountSchemas(app);
  const { oauth, protector } = accounts;
  /** Keeps the flow's browser key in the browser that receives this response (see OAuthService.authorize). */
  const bindBrowser = (reply: FastifyReply, provider: string, start: AuthorizationStart) =>
    setCookie(reply, STATE_COOKIE, start.browserKey, {
      path: oauth.callbackPath(provider),
      maxAgeSeconds: STATE_TTL_MS / 1000,
      secure: oauth.secureCookies,
    });

  app.get(
    '/auth/oauth/providers',
    {
      schema: {
        tags: ['auth'],
        summary: 'Social sign-in providers enabled on this server',
        response: {
          200: withExamples(
            Type.Object({
              items: Type.Array(
                Type.Object({
                  name: Type.String(),
                  nativeToken: Type.Boolean({
                    description: 'Whether apps may post a token from the provider SDK.',
                  }),
                }),
              ),
            }),
            {
              items: [
                { name: 'kakao', nativeToken: true },
                { name: 'naver', nativeToken: false },
                { name: 'google', nativeToken: true },
              ],
            },
          ),
        },
      },
    },
    async () => ({ items: oauth.enabledProviders() }),
  );

  app.get(
    '/auth/oauth/:provider/start',
    {
      schema: {
        tags: ['auth'],
        summary: 'Start social sign-in in a browser (redirects to the provider)',
        description:
          'Sends the browser to the provider. It comes back to our callback, then to `redirectUri` with ' +
          '`?code=<one-time code>` to exchange at POST /v1/auth/exchange (or `?error=...`). Sets an httpOnly ' +
          'cookie, sent only to the callback, that binds the flow to this browser: it must finish here.',
        params: ProviderParams,
        querystring: Type.Object({ redirectUri: RedirectUri, codeChallenge: CodeChallenge }),
        response: { 302: Type.Null(), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const start = await oauth.authorize(
        request.params.provider,
        {
          intent: 'login',
          redirectUri: request.query.redirectUri,
          codeChallenge: request.query.codeChallenge,
        },
        null,
      );
      bindBrowser(reply, request.params.provider, start);
      return reply.redirect(start.url, 302);
    },
  );

  app.post(
    '/auth/oauth/:provider/authorize',
    {
      config: { auth: 'optional' },
      schema: {
        tags: ['auth'],
        summary: 'Get the provider URL to sign in with, or (signed in) to link the provider',
        description:
          '`intent: link` needs a signed-in user; the browser then returns with `?linked=<provider>`. The ' +
          'response sets an httpOnly cookie, sent only to the callback, that binds the flow to the browser ' +
          'making this call (a web app calls it with credentials): the provider URL only works in that browser, ' +
          'so nobody can hand a started sign-in or link to someone else. Apps that open the provider in another ' +
          'browser use GET /v1/auth/oauth/{provider}/start there instead.',
        params: ProviderParams,
        body: withExamples(
          Type.Object(
            {
              intent: Type.Union([Type.Literal('login'), Type.Literal('link')]),
              redirectUri: RedirectUri,
              codeChallenge: CodeChallenge,
            },
            { additionalProperties: false },
          ),
          {
            intent: 'login',
            redirectUri: 'https://app.example.com/auth/done',
            codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          },
        ),
        response: {
          200: withExamples(Type.Object({ authorizationUrl: Type.String() }), {
            authorizationUrl:
              'https://kauth.kakao.com/oauth/authorize?response_type=code&client_id=your-kakao-app-key' +
              '&redirect_uri=https%3A%2F%2Fapi.example.com%2Fv1%2Fauth%2Foauth%2Fkakao%2Fcallback',
          }),
          ...errorResponses(404),
        },
      },
    },
    async (request, reply) => {
      const start = await oauth.authorize(request.params.provider, request.body, request.actor);
      bindBrowser(reply, request.params.provider, start);
      return { authorizationUrl: start.url };
    },
  );

  app.get(
    '/auth/oauth/:provider/callback',
    {
      schema: {
        tags: ['auth'],
        summary: 'Where the provider sends the browser back (registered with the provider)',
        description:
          'Finishes only in the browser that started the flow (it holds the `moim_oauth` cookie set then): ' +
          'any other answers 400 OAUTH_STATE_INVALID, as a missing, used, expired or foreign `state` does. ' +
          'The cookie is cleared either way.',
        params: ProviderParams,
        querystring: Type.Object({
          code: Type.Optional(Type.String({ maxLength: 2048 })),
          state: Type.Optional(Type.String({ maxLength: 512 })),
          error: Type.Optional(Type.String({ maxLength: 256 })),
          error_description: Type.Optional(Type.String({ maxLength: 1024 })),
        }),
        response: { 302: Type.Null(), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const { provider } = request.params;
      // The key is good for one flow: cleared whatever the outcome (an error still answers with this header).
      setCookie(reply, STATE_COOKIE, '', {
        path: oauth.callbackPath(provider),
        maxAgeSeconds: 0,
        secure: oauth.secureCookies,
      });
      const url = await oauth.callback(
        provider,
        request.query,
        readCookie(request, STATE_COOKIE),
        metaOf(request),
      );
      // The one-time code in this URL must not leak onward through the app's outgoing links.
      void reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
      return reply.redirect(url, 302);
    },
  );

  app.post(
    '/auth/exchange',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange the one-time code from social sign-in for tokens',
        description: 'The code works once, for 60 seconds.',
        body: withExamples(
          Type.Object(
            {
              code: Type.String({ minLength: 16, maxLength: 200 }),
              codeVerifier: Type.Optional(Type.String({ minLength: 43, maxLength: 128 })),
              deviceName: DeviceName,
            },
            { additionalProperties: false },
          ),
          {
            code: 'oc_example_5f4e3d2c1b0a99887766',
            codeVerifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
            deviceName: 'Galaxy S24',
          },
        ),
        response: { 200: AuthResponse, ...errorResponses(401, 403) },
      },
    },
    async (request) => toAuthResponse(await oauth.exchange(request.body, metaOf(request)), protector),
  );

  app.post(
    '/auth/oauth/:provider/native',
    {
      schema: {
        tags: ['auth'],
        summary: "Sign in with a token from the provider's app SDK",
        description:
          'Kakao: the SDK access token (accepted only when issued to our Kakao app id). Google: the ID token ' +
          '(audience must be one of our client ids). Naver: not supported (use the browser flow), because a ' +
          'Naver token cannot be checked to belong to our app.',
        params: ProviderParams,
        body: withExamples(
          Type.Object(
            { token: Type.String({ minLength: 10, maxLength: 8192 }), deviceName: DeviceName },
            { additionalProperties: false },
          ),
          { token: 'kakao-sdk-access-token-example', deviceName: 'Galaxy S24' },
        ),
        response: { 200: AuthResponse, ...errorResponses(403, 404) },
      },
    },
    async (request) =>
      toAuthResponse(
        await oauth.nativeLogin(request.params.provider, request.body, metaOf(request)),
        protector,
      ),
  );

  app.delete(
    '/me/identities/:provider',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['me'],
        summary: 'Unlink a social sign-in provider',
        description: 'Refused (409 LAST_SIGN_IN_METHOD) when it is the last way left to sign in.',
        params: ProviderParams,
        response: { 204: Type.Null(), ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      await oauth.unlink(actorOf(request), request.params.provider, metaOf(request));
      return reply.code(204).send(null);
    },
  );
};
