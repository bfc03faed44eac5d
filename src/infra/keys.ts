import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

export interface Keys {
  /** Ed25519 key pair signing access tokens. */
  jwtPrivateKey: KeyObject;
  jwtPublicKey: KeyObject;
  /** Key id advertised in token headers, derived from the public key. */
  jwtKeyId: string;
  /** 32-byte key for encrypting personal data at rest. */
  dataKey: Buffer;
}

/**
 * Keys come from the environment when given; otherwise they are generated on first start and kept in
 * DATA_DIR/keys (mode 0600) so that tokens and encrypted data survive restarts. Their values are never logged.
 */
export function loadKeys(config: Pick<Config, 'dataDir' | 'keys'>): Keys {
  const dir = path.join(config.dataDir, 'keys');
  const pem =
    config.keys.jwtPrivateKeyPem ??
    readOrCreate(path.join(dir, 'jwt-ed25519.pem'), () =>
      crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
  const jwtPrivateKey = crypto.createPrivateKey(pem.replace(/\\n/g, '\n'));
  if (jwtPrivateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error('JWT_PRIVATE_KEY must be an Ed25519 private key in PKCS#8 PEM');
  }
  const jwtPublicKey = crypto.createPublicKey(jwtPrivateKey);
  const spki = jwtPublicKey.export({ type: 'spki', format: 'der' });
  const jwtKeyId = crypto.createHash('sha256').update(spki).digest('base64url').slice(0, 16);

  const dataKeyHex =
    config.keys.dataEncryptionKeyHex ??
    readOrCreate(path.join(dir, 'data-encryption.key'), () => crypto.randomBytes(32).toString('hex'));
  const dataKey = Buffer.from(dataKeyHex.trim(), 'hex');
  if (dataKey.length !== 32)
    throw new Error(`${path.join(dir, 'data-encryption.key')} is not a 32-byte hex key`);

  return { jwtPrivateKey, jwtPublicKey, jwtKeyId, dataKey };
}

function readOrCreate(file: string, create: () => string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = create();
  try {
    fs.writeFileSync(file, value, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8');
    throw err;
  }
}
