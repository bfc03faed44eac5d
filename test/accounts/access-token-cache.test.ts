import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccessTokens } from '../../src/modules/accounts/access-tokens.js';

/**
 * The verified-token cache (AccessTokens remembers tokens it verified): it must refuse exactly what a fresh
 * verification would, however often a token was seen before.
 */
describe('access tokens: a remembered verification refuses what a fresh one would', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keys = { jwtPrivateKey: privateKey, jwtPublicKey: publicKey, jwtKeyId: 'k1' };
  let now = new Date('2026-11-30T12:00:00Z');
  const clock = { now: () => now };
  const tokens = new AccessTokens(keys, 'https://moim.test', 900, clock);

  it('refuses a cached token once it is past its expiry and the 30 s tolerance', async () => {
    const { token, expiresAt } = await tokens.sign(randomUUID(), randomUUID());
    const first = await tokens.verify(token);
    expect(await tokens.verify(token)).toEqual(first);
    now = new Date(expiresAt.getTime() + 29_000);
    await expect(tokens.verify(token)).resolves.toEqual(first);
    now = new Date(expiresAt.getTime() + 30_000);
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    // Refused again after being dropped from the cache, by the full check this time.
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    now = new Date('2026-11-30T12:00:00Z');
  });

  it('refuses a token that differs from a cached one by any character, and one signed by another key', async () => {
    const { token } = await tokens.sign(randomUUID(), randomUUID());
    await tokens.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1);
    await expect(tokens.verify(`${header}.${payload}.${flipped}`)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    const other = generateKeyPairSync('ed25519');
    const forger = new AccessTokens(
      { jwtPrivateKey: other.privateKey, jwtPublicKey: other.publicKey, jwtKeyId: 'k1' },
      'https://moim.test',
      900,
      clock,
    );
    const forged = (await forger.sign(randomUUID(), randomUUID())).token;
    await expect(tokens.verify(forged)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
