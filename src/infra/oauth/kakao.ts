import type { Config } from '../../config.js';
import { describeError, obj, providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';
import { codeChallengeS256 } from './pkce.js';

type KakaoConfig = NonNullable<Config['oauth']['kakao']>;

/**
 * Kakao Login over its REST API.
 *
 * - Browser flow: authorization code at `{authBaseUrl}/oauth/authorize` with `state` and PKCE S256, the code
 *   redeemed at `{authBaseUrl}/oauth/token` (client secret in the form body when one is enabled), the profile read
 *   from `{apiBaseUrl}/v2/user/me`.
 *   https://developers.kakao.com/docs/latest/ko/kakaologin/rest-api
 * - PKCE: the REST guide's parameter tables we could read do not list `code_challenge`, but Kakao's own SDKs send
 *   `code_challenge` + `code_challenge_method=S256` to the same kauth `/oauth/authorize` and `code_verifier` to
 *   the same `/oauth/token` (kakao/kakao_flutter_sdk, packages/kakao_flutter_sdk_auth/lib/src/constants.dart and
 *   auth_api.dart; https://developers.kakao.com/sdk/reference/flutter/release/kakao_flutter_sdk_auth/AuthCodeClient/authorize.html),
 *   so the endpoint accepts it and we send it (RFC 9700 §2.1.1). `state` stays the CSRF defence either way.
 * - No nonce: that belongs to Kakao's OpenID Connect mode, which this adapter does not use.
 * - Native apps: the SDK's access token is accepted only if `{apiBaseUrl}/v1/user/access_token_info` says it was
 *   issued to our app (`app_id`, "해당 access token이 발급된 앱 ID",
 *   https://developers.kakao.com/sdk/reference/flutter/release/kakao_flutter_sdk_user/AccessTokenInfo-class.html).
 *   `/v2/user/me` alone answers for a token of any Kakao app, so without this check a token a user gave to
 *   another app would sign its holder in here (token substitution; security.md §1.3, ASVS 10.5.4).
 * - Errors (https://developers.kakao.com/docs/latest/ko/kakaologin/trouble-shooting): the token endpoint answers
 *   `{ error, error_description, error_code: 'KOE…' }` (KOE320: code unknown, used or expired; KOE303: redirect
 *   URI mismatch; KOE010/KOE101: client credentials); the API answers `{ msg, code }` with code -401 for an
 *   invalid or expired token. `error_description` echoes the code, so it never reaches our messages.
 */
export class KakaoProvider implements OAuthProvider {
  readonly name = 'kakao' as const;
  readonly supportsPkce = true;
  readonly supportsNonce = false;
  /** Off without KAKAO_APP_ID: there would be nothing to check the token's `app_id` against. */
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
    if (status === 200 && accessToken) return this.profile(accessToken);
    // A redirect URI mismatch (KOE303) also says `invalid_grant`, but it is our configuration, not the user's
    // code: report it as the provider failing so that it is noticed.
    const badCode = body.error === 'invalid_grant' && body.error_code !== 'KOE303';
    throw new OAuthError(
      badCode ? 'invalid_grant' : 'provider_error',
      `Kakao refused the authorization code${describeError(body, 'error', 'error_code')}.`,
    );
  }

  async verifyNativeToken(token: string): Promise<OAuthProfile> {
    if (!this.config.appId) {
      throw new OAuthError('unsupported', 'Kakao tokens from apps need KAKAO_APP_ID to be checked.');
    }
    const { status, body } = await providerJson(`${this.config.apiBaseUrl}/v1/user/access_token_info`, {
      bearer: token,
    });
    // 401 (code -401): unknown or expired token; 400 (code -2): not a token at all.
    if (status === 401 || status === 400) {
      throw new OAuthError('invalid_token', `Kakao did not accept the token${describeError(body, 'code')}.`);
    }
    if (status !== 200) throw new OAuthError('provider_error', `Kakao token info answered ${status}.`);
    const appId = str(body.app_id);
    if (!appId) throw new OAuthError('provider_error', 'Kakao token info has no app_id.');
    if (appId !== this.config.appId) {
      throw new OAuthError('wrong_audience', 'The Kakao token was issued to another app.');
    }
    const profile = await this.profile(token);
    // Both answers describe the same token; a different user id would mean they do not.
    const tokenUserId = str(body.id);
    if (tokenUserId && tokenUserId !== profile.providerUserId) {
      throw new OAuthError('provider_error', 'Kakao token info and profile disagree about the user.');
    }
    return profile;
  }

  private async profile(accessToken: string): Promise<OAuthProfile> {
    const { status, body } = await providerJson(`${this.config.apiBaseUrl}/v2/user/me`, {
      bearer: accessToken,
    });
    if (status === 401) {
      throw new OAuthError('invalid_token', `Kakao did not accept the token${describeError(body, 'code')}.`);
    }
    if (status !== 200) throw new OAuthError('provider_error', `Kakao user info answered ${status}.`);
    // The membership number is a Long; `str` refuses one that JSON parsing could have rounded.
    const id = str(body.id);
    if (!id) throw new OAuthError('provider_error', 'Kakao returned no usable user id.');
    const account = obj(body.kakao_account);
    const profile = obj(account.profile);
    // Apps created before the split consent items (2021) get the nickname and image under `properties`.
    const properties = obj(body.properties);
    const email = str(account.email);
    const avatar =
      profile.is_default_image === true
        ? null
        : (str(profile.profile_image_url) ?? str(properties.profile_image) ?? null);
    return {
      provider: 'kakao',
      providerUserId: id,
      nickname: str(profile.nickname) ?? str(properties.nickname),
      email,
      // Both flags: "valid" (the address still works) and "verified" (Kakao confirmed the user owns it).
      emailVerified: Boolean(email && account.is_email_valid === true && account.is_email_verified === true),
      avatarUrl: avatar,
    };
  }
}
