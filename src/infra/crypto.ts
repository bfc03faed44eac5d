import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * Encryption and keyed hashing of personal data with the deployment's data key. Each purpose gets its own
 * subkey (HKDF), so a hash made for phone lookup can never be confused with one made for OTP codes.
 */
export class DataProtector {
  private readonly subkeys = new Map<string, Buffer>();

  constructor(private readonly dataKey: Buffer) {}

  private subkey(purpose: string): Buffer {
    let key = this.subkeys.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.dataKey, 'moim', purpose, 32));
      this.subkeys.set(purpose, key);
    }
    return key;
  }

  /** AES-256-GCM; the purpose is authenticated too, so a ciphertext cannot be moved to another field. */
  encrypt(purpose: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.subkey(`enc:${purpose}`), iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  decrypt(purpose: string, payload: string): string {
    if (!payload.startsWith('v1.')) throw new Error('Unknown ciphertext version');
    const raw = Buffer.from(payload.slice(3), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.subkey(`enc:${purpose}`), raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** Deterministic keyed hash for equality lookups of secrets and personal data (HMAC-SHA256). */
  hash(purpose: string, value: string): string {
    return createHmac('sha256', this.subkey(`mac:${purpose}`))
      .update(value)
      .digest('base64url');
  }
}

/** Unkeyed SHA-256, enough for high-entropy random tokens (refresh tokens, tickets). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** A random token for clients to hold (≥ 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
