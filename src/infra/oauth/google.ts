import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../config.js';
import { describeError, PROVIDER_TIMEOUT_MS, providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';
import { codeChallengeS256 } from './pkce.js';

type GoogleConfig = NonNullable<Config['oauth']['google']>;

interface Discovery {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  algorithms: string[];
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

/** Signature algorithms we accept from an ID token: asymmetric only (never `none`, never HMAC). */
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Clock skew allowed on `exp`/`iat`, the leeway our own tokens get (security.md B1). */
const CLOCK_TOLERANCE_S = 30;

/**
 * Google Sign-In as an OpenID Connect client.
 * https://developers.google.com/identity/openid-connect/openid-connect
 *
 * - Endpoints come from `{issuer}/.well-known/openid-configuration`, fetched on first use and kept; its `issuer`
 *   must be the configured one (OIDC Discovery §4.3), or a document served from elsewhere could name its own
 *   token endpoint and keys.
 * - Browser flow: the code flow with `state`, PKCE S256 and a `nonce`; the code is redeemed at the discovered
 *   token endpoint with our client secret. The ID token is verified against the discovered JWKS (jose's remote
 *   key set: cached, refetched on an unknown `kid`): signature with an algorithm the discovery document lists
 *   (asymmetric only), `iss`, `aud` containing our client id, `azp` (when present) being our client id, `exp`,
 *   and `nonce` equal to the one we sent. The profile is read from those verified claims only.
 * - Google's ID tokens say `iss: "accounts.google.com"` or `"https://accounts.google.com"`; both are accepted for
 *   that issuer, as Google's guide says to.
 * - Native apps post the ID token their Google SDK obtained; see `verifyNativeToken`.
 *
 * Plain `fetch` with timeouts rather than arctic: see `http.ts`.
 */
export class GoogleProvider implements OAuthProvider {
  readonly name = 'google' as const;
  readonly supportsPkce = true;
  readonly supportsNonce = true;
  readonly supportsNativeToken = true;
  private discovery: Promise<Discovery> | undefined;

  constructor(private readonly config: GoogleConfig) {}

  async authorizationUrl(params: AuthorizationParams): Promise<URL> {
    const { authorizationEndpoint } = await this.discover();
    const url = new URL(authorizationEndpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', params.redirectUri);
    url.searchParams.set('scope', 'openid email profile');
    url.searchParams.set('state', params.state);
    if (params.nonce) url.searchParams.set('nonce', params.nonce);
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
    nonce: string | null;
  }): Promise<OAuthProfile> {
    const { tokenEndpoint } = await this.discover();
    const { status, body } = await providerJson(tokenEndpoint, {
      form: {
        grant_type: 'authorization_code',
        client_id: this.config.clientId,
        client_secret: this.config.clientSecret,
        redirect_uri: params.redirectUri,
        code: params.code,
        code_verifier: params.codeVerifier ?? undefined,
      },
    });
    const idToken = str(body.id_token);
    if (status !== 200 || !idToken) {
      // Google answers `invalid_grant` for an unknown, used or expired code and for a wrong verifier ("Invalid
      // code verifier."); `redirect_uri_mismatch` and `invalid_client` are our configuration.
      throw new OAuthError(
        body.error === 'invalid_grant' ? 'invalid_grant' : 'provider_error',
        `Google refused the authorization code${describeError(body, 'error')}.`,
      );
    }
    const claims = await this.verifyIdToken(idToken, [this.config.clientId]);
    if (claims.azp !== undefined && claims.azp !== this.config.clientId) {
      throw new OAuthError('wrong_audience', 'The ID token was obtained by another client.');
    }
    // The nonce binds this ID token to the sign-in that started in this browser (replay and injection defence).
    if (!params.nonce || claims.nonce !== params.nonce) {
      throw new OAuthError('wrong_nonce', 'The ID token was not issued for this sign-in.');
    }
    return this.profile(claims);
  }

  /**
   * An ID token a native app obtained with Google's SDK (`serverClientId` = our web client id, or its own iOS or
   * Android client id). Its audience must be one of our client ids: that is what ties the token to our app.
   * There is no nonce check: the app chose the nonce (if any) without us, so there is no expected value to
   * compare with; replay is bounded by `exp` (Google issues ID tokens for one hour), and a stolen ID token
   * already lets its holder be that user at our API for that hour, nonce or not.
   */
  async verifyNativeToken(token: string): Promise<OAuthProfile> {
    return this.profile(
      await this.verifyIdToken(token, [this.config.clientId, ...this.config.nativeClientIds]),
    );
  }

  private discover(): Promise<Discovery> {
    this.discovery ??= this.fetchDiscovery().catch((err: unknown) => {
      // A failed fetch is not cached: the next sign-in tries again.
      this.discovery = undefined;
      throw err;
    });
    return this.discovery;
  }

  private async fetchDiscovery(): Promise<Discovery> {
    const { status, body } = await providerJson(`${this.config.issuer}/.well-known/openid-configuration`);
    const issuer = str(body.issuer);
    const authorizationEndpoint = httpUrl(body.authorization_endpoint);
    const tokenEndpoint = httpUrl(body.token_endpoint);
    const jwksUri = httpUrl(body.jwks_uri);
    if (status !== 200 || !issuer || !authorizationEndpoint || !tokenEndpoint || !jwksUri) {
      throw new OAuthError('provider_error', `The Google discovery document is missing or incomplete.`);
    }
    if (trimSlash(issuer) !== trimSlash(this.config.issuer)) {
      throw new OAuthError('provider_error', 'The Google discovery document names another issuer.');
    }
    const listed = Array.isArray(body.id_token_signing_alg_values_supported)
      ? body.id_token_signing_alg_values_supported.filter((a): a is string => typeof a === 'string')
      : ['RS256'];
    const algorithms = ASYMMETRIC.filter((a) => listed.includes(a));
    if (algorithms.length === 0) {
      throw new OAuthError('provider_error', 'The Google discovery document lists no asymmetric algorithm.');
    }
    return {
      issuer,
      authorizationEndpoint,
      tokenEndpoint,
      algorithms,
      jwks: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: PROVIDER_TIMEOUT_MS }),
    };
  }

  private async verifyIdToken(token: string, audiences: string[]): Promise<JWTPayload> {
    const { issuer, algorithms, jwks } = await this.discover();
    const issuers = [issuer];
    if (trimSlash(issuer) === 'https://accounts.google.com') issuers.push('accounts.google.com');
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: issuers,
        audience: audiences,
        algorithms,
        requiredClaims: ['sub', 'iat', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      return payload;
    } catch (err) {
      throw idTokenFailure(err);
    }
  }

  private profile(claims: JWTPayload): OAuthProfile {
    const sub = str(claims.sub);
    if (!sub) throw new OAuthError('provider_error', 'The ID token has no subject.');
    const email = str(claims.email);
    return {
      provider: 'google',
      providerUserId: sub,
      nickname: str(claims.name) ?? str(claims.given_name),
      email,
      // Older tokens carried the flag as the string "true".
      emailVerified: Boolean(email && (claims.email_verified === true || claims.email_verified === 'true')),
      avatarUrl: str(claims.picture),
    };
  }
}

function idTokenFailure(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof joseErrors.JWTExpired)
    return new OAuthError('invalid_token', 'The ID token has expired.');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud')
      return new OAuthError('wrong_audience', 'The ID token was issued to another client.');
    return new OAuthError('invalid_token', `The ID token's "${err.claim}" claim did not verify.`);
  }
  // The key set could not be fetched or read: Google failed, not the token.
  if (
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    !(err instanceof joseErrors.JOSEError) ||
    err.code === 'ERR_JOSE_GENERIC'
  ) {
    return new OAuthError('provider_error', 'The Google signing keys could not be loaded.');
  }
  return new OAuthError('invalid_token', 'The ID token did not verify.');
}

function httpUrl(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : null;
  } catch {
    return null;
  }
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}
