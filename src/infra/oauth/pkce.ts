import { createHash, randomBytes } from 'node:crypto';

/**
 * The random values of one authorization request. Each is 32 bytes from the CSPRNG (256 bits), base64url
 * without padding: 43 characters, inside RFC 7636's 43..128 range for a code verifier and unguessable for state
 * and nonce (RFC 9700 §2.1, §4.7.1).
 */
const RANDOM_BYTES = 32;

/** A PKCE code verifier (RFC 7636 §4.1): 43 characters of [A-Za-z0-9_-]. */
export function generateCodeVerifier(): string {
  return randomBytes(RANDOM_BYTES).toString('base64url');
}

/** The S256 PKCE challenge of a verifier (RFC 7636 §4.2): base64url(SHA-256(ASCII(verifier))). */
export function codeChallengeS256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * The `state` of one authorization request. Single use; it does not bind itself to a browser: the caller does
 * that (oauth.service.ts keeps a cookie key's hash beside it).
 */
export function generateState(): string {
  return randomBytes(RANDOM_BYTES).toString('base64url');
}

/** The OIDC `nonce` of one authorization request, checked in the ID token it comes back in. */
export function generateNonce(): string {
  return randomBytes(RANDOM_BYTES).toString('base64url');
}
