import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../infra/clock.js';
import type { Keys } from '../../infra/keys.js';
import { AppError } from '../../shared/errors.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const ACCESS_TOKEN_AUDIENCE = 'moim-api';
/** Tokens are a few hundred bytes; anything far larger is not ours and is refused before parsing. */
const MAX_TOKEN_LENGTH = 4096;
const CLOCK_TOLERANCE_SECONDS = 30;
const ALLOWED_HEADERS = new Set(['alg', 'typ', 'kid']);
/** Verified tokens remembered (about 5 MB at most): a client sends the same token on every request for 15 minutes. */
const VERIFIED_CACHE_SIZE = 10_000;

export interface AccessClaims {
  userId: string;
  sessionId: string;
  issuedAt: Date;
  expiresAt: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Access tokens: EdDSA JWTs of 15 minutes. Verification follows RFC 8725: one algorithm only, our key only (no
 * `jku`/`jwk`/`x5u` is ever fetched), explicit `typ`, `iss` and `aud`, required `sub` and `sid`. Whether the
 * session and user are still valid is checked against the database by the caller on every request.
 */
export class AccessTokens {
  /**
   * Tokens this process verified, by their exact text, until they expire. An Ed25519 check through jose costs
   * ~0.3 ms of CPU, more than the rest of an authenticated request; the signature of a given string under our one
   * key cannot change, so verifying it again proves nothing new. Only the signature and claims are remembered:
   * the session and the account are still read on every request. Oldest entries go first when full.
   */
  private readonly verified = new Map<string, AccessClaims>();

  constructor(
    private readonly keys: Pick<Keys, 'jwtPrivateKey' | 'jwtPublicKey' | 'jwtKeyId'>,
    private readonly issuer: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  async sign(userId: string, sessionId: string): Promise<{ token: string; expiresAt: Date }> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    const token = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'EdDSA', typ: ACCESS_TOKEN_TYPE, kid: this.keys.jwtKeyId })
      .setIssuer(this.issuer)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setSubject(userId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .sign(this.keys.jwtPrivateKey);
    return { token, expiresAt: new Date((now + this.ttlSeconds) * 1000) };
  }

  /** Returns the claims of a token we issued and that has not expired; throws UNAUTHENTICATED otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt.getTime() + CLOCK_TOLERANCE_SECONDS * 1000 > this.clock.now().getTime())
        return known;
      this.verified.delete(token);
    }
    const claims = await this.verifySignature(token);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) {
      this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, claims);
    return claims;
  }

  private async verifySignature(token: string): Promise<AccessClaims> {
    const invalid = () => new AppError('UNAUTHENTICATED', 'The access token is invalid or expired.');
    if (token.length > MAX_TOKEN_LENGTH || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw invalid();
    try {
      const header = decodeProtectedHeader(token);
      // Our tokens carry exactly these header fields; one pointing at key material (jku, jwk, x5u, x5c) or
      // asking for other processing (crit, b64) did not come from us.
      if (header.kid !== this.keys.jwtKeyId || Object.keys(header).some((k) => !ALLOWED_HEADERS.has(k)))
        throw invalid();
      const { payload } = await jwtVerify(token, this.keys.jwtPublicKey, {
        algorithms: ['EdDSA'],
        typ: ACCESS_TOKEN_TYPE,
        issuer: this.issuer,
        audience: ACCESS_TOKEN_AUDIENCE,
        requiredClaims: ['sub', 'sid', 'iat', 'exp', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: this.clock.now(),
      });
      const sid = payload.sid;
      if (
        typeof payload.sub !== 'string' ||
        !UUID.test(payload.sub) ||
        typeof sid !== 'string' ||
        !UUID.test(sid)
      ) {
        throw invalid();
      }
      return {
        userId: payload.sub,
        sessionId: sid,
        issuedAt: new Date(payload.iat! * 1000),
        expiresAt: new Date(payload.exp! * 1000),
      };
    } catch {
      throw invalid();
    }
  }
}
