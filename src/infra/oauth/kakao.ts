import type { Config } from '../../config.js';
import { providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';
import { codeChallengeS256 } from './pkce.js';

type KakaoConfig = NonNullable<Config['oauth']['kakao']>;

/**
 * Kakao Login (REST): authorization code with PKCE S256, token at kauth, profile at kapi `/v2/user/me`.
 * A native app's token is checked with `/v1/user/access_token_info`: its `app_id` must be ours, or a token
 * issued to any other Kakao app would sign its holder in here.
 * https://developers.kakao.com/docs/latest/ko/kakaologin/rest-api
 */
export class KakaoProvider implements OAuthProvider {
  readonly name = 'kakao' as const;
  readonly supportsPkce = true;
  readonly supportsNonce = false;
  readonly supportsNativeToken: boolean;

  constructor(private readonly config: KakaoConfig) {
    this.supportsNativeToken = Boolean(config.appId);
  }

  async authorizationUrl(params: AuthorizationParams): Promise<URL> {
    const url = new URL(`${this.config.authBaseUrl}/oauth/authorize`);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', params.redirectUri);
    url.searchParams.set('state', params.state);
    if (params.codeVerifier) {
      url.searchParams.set('code_challenge', codeChallengeS256(params.codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return url;
  }

  async exchangeCode(params: {
    code: string;
    redirectUri: string;
    codeVerifier: string | null;
  }): Promise<OAuthProfile> {
    const { status, body } = await providerJson(`${this.config.authBaseUrl}/oauth/token`, {
      method: 'POST',
      form: {
        grant_type: 'authorization_code',
        client_id: this.config.clientId,
        client_secret: this.config.clientSecret,
        redirect_uri: params.redirectUri,
        code: params.code,
        code_verifier: params.codeVerifier ?? undefined,
      },
    });
    const accessToken = str(body.access_token);
    if (status !== 200 || !accessToken) {
      // KOE320 and friends: the code is unknown, used, expired, or the verifier does not match.
      throw new OAuthError(
        body.error === 'invalid_grant' ? 'invalid_grant' : 'provider_error',
        'Kakao refused the code.',
      );
    }
    return this.profile(accessToken);
  }

  async verifyNativeToken(token: string): Promise<OAuthProfile> {
    if (!this.config.appId) throw new OAuthError('unsupported', 'KAKAO_APP_ID is not configured.');
    const { status, body } = await providerJson(`${this.config.apiBaseUrl}/v1/user/access_token_info`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (status !== 200) throw new OAuthError('invalid_token', 'Kakao did not accept the token.');
    if (str(body.app_id) !== this.config.appId) {
      throw new OAuthError('wrong_audience', 'The Kakao token was issued to another app.');
    }
    return this.profile(token);
  }

  private async profile(accessToken: string): Promise<OAuthProfile> {
    const { status, body } = await providerJson(`${this.config.apiBaseUrl}/v2/user/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    if (status === 401) throw new OAuthError('invalid_token', 'Kakao did not accept the token.');
    const id = str(body.id);
    if (status !== 200 || !id) throw new OAuthError('provider_error', 'Kakao returned no user id.');
    const account = (body.kakao_account ?? {}) as Record<string, unknown>;
    const profile = (account.profile ?? {}) as Record<string, unknown>;
    const email = str(account.email);
    return {
      provider: 'kakao',
      providerUserId: id,
      nickname: str(profile.nickname),
      email,
      emailVerified: Boolean(email && account.is_email_verified === true && account.is_email_valid === true),
      avatarUrl: str(profile.profile_image_url),
    };
  }
}
