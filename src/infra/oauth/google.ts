import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../config.js';
import { providerJson, str } from './http.js';
import { OAuthError, type AuthorizationParams, type OAuthProfile, type OAuthProvider } from './oauth.js';
import { codeChallengeS256 } from './pkce.js';

type GoogleConfig = NonNullable<Config['oauth']['google']>;

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported?: string[];
}

/**
 * Google Sign-In as an OpenID Connect client: endpoints from the issuer's discovery document, the code flow
 * with PKCE S256 and a nonce, and the ID token verified against the issuer's keys (`iss`, `aud` = our client
 * id, `exp`, `nonce`). The profile comes from the verified ID token only.
 * https://developers.google.com/identity/openid-connect/openid-connect
 */
export class GoogleProvider implements OAuthProvider {
  readonly name = 'google' as const;
  readonly supportsPkce = true;
  readonly supportsNonce = true;
  readonly supportsNativeToken = true;
  private discovery: Promise<{ doc: Discovery; jwks: ReturnType<typeof createRemoteJWKSet> }> | undefined;

  constructor(private readonly config: GoogleConfig) {}

  private discover() {
    this.discovery ??= (async () => {
      const { status, body } = await providerJson(`${this.config.issuer}/.well-known/openid-configuration`);
      const doc = body as unknown as Discovery;
      if (
        status !== 200 ||
        !doc.authorization_endpoint ||
        !doc.token_endpoint ||
        !doc.jwks_uri ||
        !doc.issuer
      ) {
        throw new OAuthError('provider_error', 'The Google discovery document is incomplete.');
      }
      return { doc, jwks: createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: 10_000 }) };
    })().catch((err: unknown) => {
      this.discovery = undefined;
      throw err;
    });
    return this.discovery;
  }

  async authorizationUrl(params: AuthorizationParams): Promise<URL> {
    const { doc } = await this.discover();
    const url = new URL(doc.authorization_endpoint);
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
    const { doc } = await this.discover();
    const { status, body } = await providerJson(doc.token_endpoint, {
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
    const idToken = str(body.id_token);
    if (status !== 200 || !idToken) {
      throw new OAuthError(
        body.error === 'invalid_grant' || status === 400 ? 'invalid_grant' : 'provider_error',
        'Google refused the code.',
      );
    }
    const claims = await this.verifyIdToken(idToken, [this.config.clientId]);
    if (!params.nonce || claims.nonce !== params.nonce) {
      throw new OAuthError('wrong_nonce', 'The ID token was not issued for this sign-in.');
    }
    return this.profile(claims);
  }

  /**
   * An ID token from a native SDK. Its nonce was chosen by the app, not by us, so it cannot be checked here;
   * the audience check is what binds it to our app.
   */
  async verifyNativeToken(token: string): Promise<OAuthProfile> {
    return this.profile(
      await this.verifyIdToken(token, [this.config.clientId, ...this.config.nativeClientIds]),
    );
  }

  private async verifyIdToken(token: string, audiences: string[]): Promise<JWTPayload> {
    const { doc, jwks } = await this.discover();
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: doc.issuer,
        algorithms: doc.id_token_signing_alg_values_supported?.filter(
          (a) => a !== 'none' && !a.startsWith('HS'),
        ) ?? ['RS256'],
        requiredClaims: ['sub', 'exp', 'iat', 'aud'],
      });
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!aud.some((a) => typeof a === 'string' && audiences.includes(a))) {
        throw new OAuthError('wrong_audience', 'The ID token was issued to another client.');
      }
      return payload;
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'iss') {
        throw new OAuthError('invalid_token', 'The ID token has the wrong issuer.');
      }
      throw new OAuthError('invalid_token', 'The ID token did not verify.');
    }
  }

  private profile(claims: JWTPayload): OAuthProfile {
    if (!claims.sub) throw new OAuthError('provider_error', 'The ID token has no subject.');
    const email = str(claims.email);
    return {
      provider: 'google',
      providerUserId: claims.sub,
      nickname: str(claims.name) ?? str(claims.given_name),
      email,
      emailVerified: Boolean(email && claims.email_verified === true),
      avatarUrl: str(claims.picture),
    };
  }
}
