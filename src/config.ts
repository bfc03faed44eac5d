import path from 'node:path';

/**
 * Every environment variable Moim reads, in one table. `loadConfig` parses them once at boot and returns a typed,
 * frozen `Config` that is passed down from the composition root; nothing else reads `process.env`.
 * `.env.example` and the README's configuration table are checked against this table by a test.
 */

type Parser<T> = (raw: string) => T;

interface VarSpec<T> {
  doc: string;
  /** Raw default as it would be written in the environment; absent means "unset". */
  default?: string;
  parse: Parser<T>;
  secret?: boolean;
}

class ParseError extends Error {}

const str: Parser<string> = (raw) => raw;

const int =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ParseError(`must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ParseError(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ParseError(`must be true or false, got "${raw}"`);
};

const oneOf =
  <const T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    if ((values as string[]).includes(raw)) return raw as T;
    throw new ParseError(`must be one of ${values.join(', ')}, got "${raw}"`);
  };

const url =
  (...protocols: string[]): Parser<string> =>
  (raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ParseError('must be a URL');
    }
    if (protocols.length > 0 && !protocols.includes(u.protocol)) {
      throw new ParseError(`must use ${protocols.join(' or ')}, got "${u.protocol}"`);
    }
    return raw;
  };

const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const timeZone: Parser<string> = (raw) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: raw });
  } catch {
    throw new ParseError(`must be an IANA time zone such as Asia/Seoul, got "${raw}"`);
  }
  return raw;
};

const hexKey =
  (bytes: number): Parser<string> =>
  (raw) => {
    if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(raw)) {
      throw new ParseError(`must be ${bytes} bytes as ${bytes * 2} hex characters`);
    }
    return raw.toLowerCase();
  };

const optional =
  <T>(p: Parser<T>): Parser<T | undefined> =>
  (raw) =>
    raw === '' ? undefined : p(raw);

export const ENV = {
  NODE_ENV: {
    doc: 'development, production or test. Production refuses the embedded defaults that are unsafe to expose.',
    default: 'development',
    parse: oneOf('development', 'production', 'test'),
  },
  HOST: { doc: 'Interface the HTTP server listens on.', default: '127.0.0.1', parse: str },
  PORT: { doc: 'HTTP port (0 picks a free one).', default: '3000', parse: int(0, 65535) },
  PUBLIC_URL: {
    doc: 'The URL clients reach this server at; used in links, OAuth callbacks and calendar feeds.',
    default: 'http://localhost:3000',
    parse: url('http:', 'https:'),
  },
  DATA_DIR: {
    doc: 'Where the embedded database, generated keys and local media live.',
    default: './data',
    parse: str,
  },
  DATABASE_URL: {
    doc: 'postgres:// URL of PostgreSQL 15+. Unset: the embedded PGlite database in DATA_DIR.',
    default: '',
    parse: optional(url('postgres:', 'postgresql:')),
    secret: true,
  },
  DATABASE_POOL_MAX: { doc: 'PostgreSQL pool size per process.', default: '10', parse: int(1, 200) },
  REDIS_URL: {
    doc: 'redis:// URL. Set: rate limits, Socket.IO fan-out and live positions are shared across nodes through Redis. Unset: in-process.',
    default: '',
    parse: optional(url('redis:', 'rediss:')),
    secret: true,
  },
  REDIS_PREFIX: { doc: 'Prefix of every Redis key and channel Moim uses.', default: 'moim:', parse: str },
  LOG_LEVEL: {
    doc: 'fatal, error, warn, info, debug, trace or silent.',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  LOG_PRETTY: {
    doc: 'Human-readable logs instead of JSON lines (development only).',
    default: 'false',
    parse: bool,
  },
  CORS_ORIGINS: {
    doc: 'Comma-separated origins allowed to call the API from a browser, e.g. https://app.example.com. Empty: none.',
    default: '',
    parse: list,
  },
  TRUST_PROXY: {
    doc: 'Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is trusted. Empty: none.',
    default: '',
    parse: list,
  },
  BODY_LIMIT_BYTES: {
    doc: 'Largest JSON body accepted (uploads have their own limits).',
    default: '1048576',
    parse: int(1024, 100 * 1024 * 1024),
  },
  REQUEST_TIMEOUT_MS: {
    doc: 'Time a client has to send a whole request.',
    default: '30000',
    parse: int(1000, 600_000),
  },
  SHUTDOWN_DRAIN_MS: {
    doc: 'On SIGTERM, how long the node keeps serving (while /health/ready answers 503) so the load balancer stops routing to it before it stops listening.',
    default: '1000',
    parse: int(0, 30_000),
  },
  SHUTDOWN_TIMEOUT_MS: {
    doc: 'Longest a graceful shutdown waits for in-flight work before exiting.',
    default: '8000',
    parse: int(100, 60_000),
  },
  RATE_LIMIT_PER_MINUTE: {
    doc: 'Requests per minute per client IP across the API (stricter limits apply to auth, OTP and uploads).',
    default: '600',
    parse: int(1, 1_000_000),
  },
  METRICS_TOKEN: {
    doc: 'When set, GET /metrics requires "Authorization: Bearer <token>".',
    default: '',
    parse: optional(str),
    secret: true,
  },
  TIME_ZONE: {
    doc: 'IANA time zone for schedules, calendars and reminders.',
    default: 'Asia/Seoul',
    parse: timeZone,
  },
  JOBS_IN_PROCESS: {
    doc: 'Run job workers and cron schedules inside the API process. Set false when a separate `moim worker` runs them.',
    default: 'true',
    parse: bool,
  },
  FILES_DIR: {
    doc: 'Folder of the local file store. Default: DATA_DIR/media.',
    default: '',
    parse: optional(str),
  },
  JWT_PRIVATE_KEY: {
    doc: 'Ed25519 private key (PKCS#8 PEM) that signs access tokens. Unset: generated on first start and kept in DATA_DIR/keys. Every node of one deployment needs the same key.',
    default: '',
    parse: optional(str),
    secret: true,
  },
  DATA_ENCRYPTION_KEY: {
    doc: '32 bytes (64 hex characters) that encrypt personal data at rest (phone numbers). Unset: generated on first start and kept in DATA_DIR/keys.',
    default: '',
    parse: optional(hexKey(32)),
    secret: true,
  },
} satisfies Record<string, VarSpec<unknown>>;

type Env = typeof ENV;
type Parsed = { [K in keyof Env]: ReturnType<Env[K]['parse']> };

export interface Config {
  env: 'development' | 'production' | 'test';
  http: {
    host: string;
    port: number;
    publicUrl: string;
    corsOrigins: string[];
    trustProxy: string[];
    bodyLimit: number;
    requestTimeoutMs: number;
    shutdownTimeoutMs: number;
    shutdownDrainMs: number;
    rateLimitPerMinute: number;
    metricsToken: string | undefined;
  };
  dataDir: string;
  db: { url: string | undefined; poolMax: number };
  redis: { url: string | undefined; prefix: string };
  log: { level: string; pretty: boolean };
  timeZone: string;
  jobs: { inProcess: boolean };
  files: { dir: string };
  keys: { jwtPrivateKeyPem: string | undefined; dataEncryptionKeyHex: string | undefined };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses and validates the whole environment at once, so a bad deploy lists every problem in one go. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV) as [string, VarSpec<unknown>][]) {
    const raw = env[name] ?? spec.default ?? '';
    try {
      parsed[name] = spec.parse(raw);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      problems.push(`${name} ${err.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const p = parsed as Parsed;

  if (p.NODE_ENV === 'production' && p.PUBLIC_URL.startsWith('http://') && !isLocalUrl(p.PUBLIC_URL)) {
    problems.push('PUBLIC_URL must use https:// in production');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(p.DATA_DIR);
  return Object.freeze({
    env: p.NODE_ENV,
    http: {
      host: p.HOST,
      port: p.PORT,
      publicUrl: p.PUBLIC_URL.replace(/\/+$/, ''),
      corsOrigins: p.CORS_ORIGINS,
      trustProxy: p.TRUST_PROXY,
      bodyLimit: p.BODY_LIMIT_BYTES,
      requestTimeoutMs: p.REQUEST_TIMEOUT_MS,
      shutdownTimeoutMs: p.SHUTDOWN_TIMEOUT_MS,
      shutdownDrainMs: p.SHUTDOWN_DRAIN_MS,
      rateLimitPerMinute: p.RATE_LIMIT_PER_MINUTE,
      metricsToken: p.METRICS_TOKEN,
    },
    dataDir,
    db: { url: p.DATABASE_URL, poolMax: p.DATABASE_POOL_MAX },
    redis: { url: p.REDIS_URL, prefix: p.REDIS_PREFIX },
    log: { level: p.LOG_LEVEL, pretty: p.LOG_PRETTY },
    timeZone: p.TIME_ZONE,
    jobs: { inProcess: p.JOBS_IN_PROCESS },
    files: { dir: p.FILES_DIR ? path.resolve(p.FILES_DIR) : path.join(dataDir, 'media') },
    keys: { jwtPrivateKeyPem: p.JWT_PRIVATE_KEY, dataEncryptionKeyHex: p.DATA_ENCRYPTION_KEY },
  });
}

function isLocalUrl(raw: string): boolean {
  const host = new URL(raw).hostname;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

/** Names of variables whose values must never be printed. */
export const SECRET_VARS = Object.entries(ENV as Record<string, VarSpec<unknown>>)
  .filter(([, spec]) => spec.secret)
  .map(([name]) => name);
