import fs from 'node:fs';
import { hash, verify } from '@node-rs/argon2';
import { AppError } from '../../shared/errors.js';

const COMMON = new Set(
  fs
    .readFileSync(new URL('./data/common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean),
);

/** The rules of NIST SP 800-63B: length, not a known-common password, not the account's own name. */
export function checkPasswordPolicy(
  password: string,
  context: { nickname?: string | null; email?: string | null },
): void {
  const problems: string[] = [];
  // argon2 takes any length, but 72 keeps parity with bcrypt-era clients and bounds hashing cost.
  if ([...password].length < 8) problems.push('at least 8 characters');
  if ([...password].length > 72) problems.push('at most 72 characters');
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) problems.push('not a commonly used password');
  if (context.nickname && lower === context.nickname.toLowerCase()) problems.push('not your nickname');
  if (context.email) {
    const email = context.email.toLowerCase();
    if (lower === email || lower === email.split('@')[0]) problems.push('not your email address');
  }
  if (problems.length > 0) {
    throw new AppError('WEAK_PASSWORD', `The password must be ${problems.join(', ')}.`, {
      details: problems.map((p) => ({ path: '/body/password', message: p })),
    });
  }
}

/**
 * argon2id with the OWASP minimum parameters (19 MiB, 2 passes): about 16 ms per verification on these cores,
 * which keeps login throughput reasonable while making offline guessing expensive.
 */
// 2 = Algorithm.Argon2id (a const enum, which isolated modules cannot import).
const OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/** Spends the same time as a real verification, so a login for an unknown account cannot be told apart. */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('moim-dummy-password-for-timing');
  await verifyPassword(await dummyHash, password);
  return false;
}
