import type { Config } from '../../config.js';
import { providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';

type NaverConfig = NonNullable<Config['oauth']['naver']>;

/**
 * Naver Login: authorization code with `state` (Naver has neither PKCE nor a nonce), token at nid, profile at
 * openapi `/v1/nid/me`. Naver offers no way to check that an access token was issued to our client id, so a
 * token posted by a native app is refused: only the server-side code flow, which uses our client secret, is
 * trusted (security.md, open point 1).
 * https://developers.naver.com/docs/login/devguide/devguide.md
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

  async exchangeCode(params: { code: string; redirectUri: string }): Promise<OAuthProfile> {
    const { status, body } = await providerJson(`${this.config.authBaseUrl}/oauth2.0/token`, {
      method: 'POST',
      form: {
        grant_type: 'authorization_code',
        client_id: this.config.clientId,
        client_secret: this.config.clientSecret,
        code: params.code,
        redirect_uri: params.redirectUri,
      },
    });
    const accessToken = str(body.access_token);
    // Naver answers failures with 200 and an `error` field.
    if (status !== 200 || body.error || !accessToken) {
      throw new OAuthError(
        body.error === 'invalid_request' || body.error === 'invalid_grant'
          ? 'invalid_grant'
          : 'provider_error',
        'Naver refused the code.',
      );
    }
    const me = await providerJson(`${this.config.apiBaseUrl}/v1/nid/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const response = (me.body.response ?? {}) as Record<string, unknown>;
    const id = str(response.id);
    if (me.status !== 200 || me.body.resultcode !== '00' || !id) {
      throw new OAuthError('provider_error', 'Naver returned no profile.');
    }
    return {
      provider: 'naver',
      providerUserId: id,
      nickname: str(response.nickname),
      email: str(response.email),
      // Naver returns the address of the Naver account; it is not a verified claim of ownership for us.
      emailVerified: false,
      avatarUrl: str(response.profile_image),
    };
  }

  async verifyNativeToken(): Promise<OAuthProfile> {
    throw new OAuthError('unsupported', 'Naver tokens cannot be checked to belong to this app.');
  }
}
