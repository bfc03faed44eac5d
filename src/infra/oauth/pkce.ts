import { createHash } from 'node:crypto';

/** The S256 PKCE challenge of a verifier (RFC 7636). */
export function codeChallengeS256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
