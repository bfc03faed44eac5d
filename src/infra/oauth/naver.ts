import type { Config } from '../../config.js';
import { describeError, obj, providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';

type NaverConfig = NonNullable<Config['oauth']['naver']>;

/**
 * Naver Login (네이버 로그인).
 *
 * - Browser flow: authorization code at `{authBaseUrl}/oauth2.0/authorize` with `state`; Naver documents neither
 *   PKCE nor a nonce, so the single-use `state`, which the caller keeps and binds to the starting browser with a
 *   cookie, is the only CSRF defence (RFC 9700 §2.1). The code is redeemed at `{authBaseUrl}/oauth2.0/token`, the profile read from
 *   `{apiBaseUrl}/v1/nid/me` (`{ resultcode: '00', message: 'success', response: { id, nickname, … } }`).
 *   https://developers.naver.com/docs/login/api/api.md, https://developers.naver.com/docs/login/profile/profile.md
 * - The token request is a POST form rather than the documented GET query string, so the client secret and the
 *   code stay out of URLs (and so out of proxy and access logs); the endpoint takes both ("GET / POST").
 * - Naver's guide lists `state` as required on the token request, so the state the code came back with is sent
 *   again (the caller has already checked it).
 * - Failures come back as HTTP 200 with `{ error, error_description }` (a used code:
 *   `invalid_request` / "no valid data in session"), so the body is checked, not only the status.
 * - Native apps: refused. Naver's documents describe no way to learn which client id an access token was issued
 *   to (the profile API answers for a token of any app), so a token posted by an app cannot be bound to us; only
 *   the server-side code flow, which needs our client secret, is trusted (security.md §5.1, open point 1).
 *   An undocumented `/v1/nid/verify?info=true` is called in the wild, and one third-party type declares a
 *   `client_id` in its answer; unofficial and unverified, it is not something to hang account security on.
 *   Naver's `id` is also per application ("같은 네이버 회원이라도 … 애플리케이션이 다르면 id값이 다른"), so a
 *   foreign token would not even name the same user.
 */
export class NaverProvider implements OAuthProvider {
  readonly name = 'naver' as const;
  readonly supportsPkce = false;
  readonly supportsNonce = false;
  readonly supportsNativeToken = false;

  constructor(private readonly config: NaverConfig) {}

  async authorizationUrl(params: AuthorizationParams): Promise<URL> {
    const url = new URL(`${this.config.authBaseUrl}/oauth2.0/authorize`);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', params.redirectUri);
    url.searchParams.set('state', params.state);
    return url;
  }

  async exchangeCode(params: { code: string; redirectUri: string; state: string }): Promise<OAuthProfile> {
    const { status, body } = await providerJson(`${this.config.authBaseUrl}/oauth2.0/token`, {
      form: {
        grant_type: 'authorization_code',
        client_id: this.config.clientId,
        client_secret: this.config.clientSecret,
        code: params.code,
        state: params.state,
        redirect_uri: params.redirectUri,
      },
    });
    const accessToken = str(body.access_token);
    if (status !== 200 || body.error !== undefined || !accessToken) {
      // `invalid_request` is what Naver says for a used or unknown code; `unauthorized_client` is its "code not
      // authorized" answer. The rest (`invalid_client`, `server_error`, 5xx) is our configuration or Naver.
      const badCode =
        body.error === 'invalid_request' ||
        body.error === 'invalid_grant' ||
        body.error === 'unauthorized_client';
      throw new OAuthError(
        badCode ? 'invalid_grant' : 'provider_error',
        `Naver refused the authorization code${describeError(body, 'error')}.`,
      );
    }
    const me = await providerJson(`${this.config.apiBaseUrl}/v1/nid/me`, { bearer: accessToken });
    if (me.status !== 200 || me.body.resultcode !== '00') {
      throw new OAuthError(
        'provider_error',
        `Naver user info answered ${me.status}${describeError(me.body, 'resultcode')}.`,
      );
    }
    const response = obj(me.body.response);
    const id = str(response.id);
    if (!id) throw new OAuthError('provider_error', 'Naver returned no user id.');
    return {
      provider: 'naver',
      providerUserId: id,
      // Not `name`: that is the legal name, which must not become a public nickname by default.
      nickname: str(response.nickname),
      email: str(response.email),
      // Naver gives no verification flag for the address it returns, so it is never treated as proven.
      emailVerified: false,
      avatarUrl: str(response.profile_image),
    };
  }

  async verifyNativeToken(): Promise<OAuthProfile> {
    throw new OAuthError(
      'unsupported',
      'Naver tokens cannot be checked to be issued to this app; use the browser flow.',
    );
  }
}
