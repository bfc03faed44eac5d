/**
 * The social login port: one adapter per provider (Kakao, Naver, Google), each speaking that provider's real
 * protocol against endpoints taken from config, so tests run the production code against local fake providers.
 */
export type OAuthProviderName = 'kakao' | 'naver' | 'google';

export const OAUTH_PROVIDERS: readonly OAuthProviderName[] = ['kakao', 'naver', 'google'];

/** What we learn about a person from a provider, after verifying the provider's response. */
export interface OAuthProfile {
  provider: OAuthProviderName;
  /** The provider's stable user id (Kakao id, Naver id, Google `sub`). */
  providerUserId: string;
  nickname: string | null;
  /** Never used to link accounts automatically. */
  email: string | null;
  emailVerified: boolean;
  avatarUrl: string | null;
}

export interface AuthorizationParams {
  state: string;
  /** Our callback URL registered with the provider. */
  redirectUri: string;
  /** PKCE verifier (S256 challenge is derived by the adapter); null when the provider has no PKCE. */
  codeVerifier: string | null;
  /** OIDC nonce; null when the provider does not use one. */
  nonce: string | null;
}

export interface OAuthProvider {
  readonly name: OAuthProviderName;
  readonly supportsPkce: boolean;
  readonly supportsNonce: boolean;
  /** Whether a token obtained by a native SDK can be verified as issued to our app. */
  readonly supportsNativeToken: boolean;
  /** Where to send the browser to sign in (may fetch the provider's discovery document). */
  authorizationUrl(params: AuthorizationParams): Promise<URL>;
  /** Redeems an authorization code from our callback and returns the verified profile. */
  exchangeCode(params: {
    code: string;
    /** The `state` the code came back with (already checked by the caller; Naver wants it again). */
    state: string;
    redirectUri: string;
    codeVerifier: string | null;
    nonce: string | null;
  }): Promise<OAuthProfile>;
  /**
   * Verifies a token a native app obtained through the provider's SDK (Kakao access token, Google ID token) and
   * returns the profile; rejects tokens issued to another app.
   */
  verifyNativeToken(token: string): Promise<OAuthProfile>;
}

export type OAuthFailure =
  | 'invalid_grant' // code unknown, used, expired, or PKCE verifier wrong
  | 'invalid_token' // token rejected, expired, or its signature does not verify
  | 'wrong_audience' // token issued to another app or client
  | 'wrong_nonce'
  | 'unsupported' // the provider cannot do this (e.g. Naver native tokens)
  | 'provider_error'; // the provider failed or answered something unexpected

export class OAuthError extends Error {
  constructor(
    readonly reason: OAuthFailure,
    message: string,
  ) {
    super(message);
    this.name = 'OAuthError';
  }
}
