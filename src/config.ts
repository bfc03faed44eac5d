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
    // Base URLs are joined with paths that start with a slash.
    return raw.replace(/\/+$/, '');
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

/** `"30"` (every kind) or `"0,run=360"` (a default, then per-kind overrides), in minutes. */
const leadTimes: Parser<{ default: number; byKind: Record<string, number> }> = (raw) => {
  const out = { default: 0, byKind: {} as Record<string, number> };
  for (const part of list(raw)) {
    const [key, value] = part.includes('=') ? part.split('=', 2) : [undefined, part];
    const minutes = int(0, 525_600)(value ?? '');
    if (key === undefined) out.default = minutes;
    else if (/^[a-z]+$/.test(key.trim())) out.byKind[key.trim()] = minutes;
    else throw new ParseError(`has a bad kind "${key}"`);
  }
  return out;
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
  DATABASE_PREPARED_STATEMENTS: {
    doc: 'Named prepared statements for the hottest queries. Set false when DATABASE_URL points at a pooler in transaction mode that cannot carry them (PgBouncer before 1.21, or 1.21+ with max_prepared_statements=0).',
    default: 'true',
    parse: bool,
  },
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
  EVENT_MIN_LEAD_MINUTES: {
    doc: 'How far ahead an event must start when it is created or moved: minutes for every kind, then optional per-kind overrides, e.g. "0,run=360" (group runs 6 h ahead).',
    default: '0',
    parse: leadTimes,
  },
  EVENT_MAX_DAYS_AHEAD: {
    doc: 'Latest an event may start or end, in days from now.',
    default: '365',
    parse: int(1, 3650),
  },
  EVENT_CREATE_PER_DAY: {
    doc: 'Events one person may create per day.',
    default: '20',
    parse: int(1, 10_000),
  },
  EVENT_CREATE_INTERVAL_SECONDS: {
    doc: 'Least time between two events created by one person (against repeated posting); 0 turns it off.',
    default: '10',
    parse: int(0, 86_400),
  },
  ATTENDANCE_GRACE_MINUTES: {
    doc: 'Attendance can be marked from 30 minutes before the start until this long after the end.',
    default: '120',
    parse: int(0, 10_080),
  },
  CHECKIN_RADIUS_METERS: {
    doc: 'How close to the meeting point a participant must be to check in by themselves.',
    default: '200',
    parse: int(10, 10_000),
  },
  RATING_WINDOW_DAYS: {
    doc: 'How long after an event its participants and host may rate each other.',
    default: '14',
    parse: int(1, 365),
  },
  EVENT_REMINDER_MINUTES: {
    doc: 'How long before the start the "starting soon" notice goes out.',
    default: '30',
    parse: int(1, 10_080),
  },
  CALENDAR_FEED_PAST_DAYS: {
    doc: 'How far back an iCalendar feed reaches: events that ended more than this many days ago are left out.',
    default: '90',
    parse: int(0, 3650),
  },
  CALENDAR_FEED_FETCHES_PER_HOUR: {
    doc: 'Fetches of one calendar feed URL allowed per hour (calendar apps poll every 15 minutes to a few hours).',
    default: '60',
    parse: int(1, 100_000),
  },
  GROUP_CREATE_PER_DAY: {
    doc: 'Groups one person may create per day.',
    default: '10',
    parse: int(1, 10_000),
  },
  GROUP_CONTACT_INVITES_PER_HOUR: {
    doc: 'Invitations by phone number or email one person may send per hour (each one looks an account up).',
    default: '20',
    parse: int(1, 10_000),
  },
  GROUP_INVITE_LINK_HOURS: {
    doc: 'How long a group invite link stays valid when its creator does not say.',
    default: '168',
    parse: int(1, 8760),
  },
  LOCATION_PUSH_INTERVAL_MS: {
    doc: 'How often live-location subscribers get a frame (only when what they see changed).',
    default: '3000',
    parse: int(100, 60_000),
  },
  LOCATION_STALE_SECONDS: {
    doc: 'A shared position not updated for this long disappears from every map.',
    default: '120',
    parse: int(5, 3600),
  },
  LOCATION_WRITE_BATCH_MS: {
    doc: 'Location updates are written to the spatial store in one batch this often (one GEOADD script per batch).',
    default: '100',
    parse: int(10, 1000),
  },
  LOCATION_SHARE_MAX_MINUTES: {
    doc: 'Longest a location share may last.',
    default: '1440',
    parse: int(1, 10_080),
  },
  LOCATION_NEARBY_MAX_RADIUS_M: {
    doc: 'Largest radius, in metres, of a "people nearby" map subscription.',
    default: '5000',
    parse: int(50, 50_000),
  },
  LOCATION_ACCESS_LOG_DAYS: {
    doc: 'How long the record of who received whose position is kept.',
    default: '30',
    parse: int(1, 3650),
  },
  LOCATION_ACCESS_LOG_FLUSH_SECONDS: {
    doc: 'How often each node writes new location access records: the bound within which a delivery is durable.',
    default: '1',
    parse: int(1, 3600),
  },
  CHAT_SEARCH_INDEX_SWEEP_MS: {
    doc: 'How often a node that wrote chat messages moves their pending search-index entries into the index, off the send path.',
    default: '2000',
    parse: int(100, 600_000),
  },
  PRESENCE_HEARTBEAT_MS: {
    doc: 'How often each node refreshes the presence entries (and last-seen times) of the sockets it holds.',
    default: '30000',
    parse: int(100, 600_000),
  },
  PRESENCE_STALE_MS: {
    doc: 'A socket whose node has not refreshed it for this long (the node died) no longer counts as online.',
    default: '90000',
    parse: int(300, 3_600_000),
  },
  PRESENCE_SWEEP_MS: {
    doc: 'How often each node looks for stale entries left by a dead node and announces those people offline.',
    default: '15000',
    parse: int(100, 600_000),
  },
  DISCOVERY_MAX_RADIUS_KM: {
    doc: 'Largest search radius around a point for event search, the map and "nearest" (kilometres).',
    default: '50',
    parse: int(1, 1000),
  },
  DISCOVERY_MAP_MAX_PINS: {
    doc: 'Most pins one map request returns (the nearest first).',
    default: '300',
    parse: int(10, 5000),
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
  ACCESS_TOKEN_TTL_SECONDS: {
    doc: 'Lifetime of an access token (JWT).',
    default: '900',
    parse: int(60, 3600),
  },
  REFRESH_IDLE_DAYS: {
    doc: 'A session whose refresh token is not used for this many days expires.',
    default: '30',
    parse: int(1, 365),
  },
  REFRESH_ABSOLUTE_DAYS: {
    doc: 'A session expires this many days after sign-in, however active.',
    default: '90',
    parse: int(1, 730),
  },
  SMS_PROVIDER: {
    doc: 'log (development: messages go to the log with codes masked, and to the dev outbox) or sens (Naver Cloud SENS).',
    default: 'log',
    parse: oneOf('log', 'sens'),
  },
  SENS_SERVICE_ID: {
    doc: 'Naver Cloud SENS SMS service id (ncp:sms:kr:…).',
    default: '',
    parse: optional(str),
  },
  SENS_ACCESS_KEY: { doc: 'Naver Cloud API access key id.', default: '', parse: optional(str), secret: true },
  SENS_SECRET_KEY: { doc: 'Naver Cloud API secret key.', default: '', parse: optional(str), secret: true },
  SENS_FROM: {
    doc: 'Registered sender number for SENS, digits only (e.g. 0212345678).',
    default: '',
    parse: optional(str),
  },
  SENS_BASE_URL: {
    doc: 'SENS API base URL (changed only for tests against a local fake).',
    default: 'https://sens.apigw.ntruss.com',
    parse: url('http:', 'https:'),
  },
  SMS_ALLOWED_COUNTRIES: {
    doc: 'Comma-separated country calling codes that may receive SMS (anti SMS-pumping).',
    default: '82',
    parse: list,
  },
  SMS_HOURLY_BUDGET: {
    doc: 'Most SMS sent per hour across the deployment; past it the SMS breaker opens until the hour ends.',
    default: '300',
    parse: int(1, 1_000_000),
  },
  MAIL_PROVIDER: {
    doc: 'log (development: mails go to the log and the dev outbox) or smtp.',
    default: 'log',
    parse: oneOf('log', 'smtp'),
  },
  SMTP_URL: {
    doc: 'smtp:// or smtps:// URL with credentials, for MAIL_PROVIDER=smtp.',
    default: '',
    parse: optional(url('smtp:', 'smtps:')),
    secret: true,
  },
  MAIL_FROM: { doc: 'From address of outgoing mail.', default: 'Moim <no-reply@moim.local>', parse: str },
  OAUTH_REDIRECT_ALLOWLIST: {
    doc: 'Comma-separated URL prefixes the social login may send the browser back to (your app), e.g. https://app.example.com/auth/done,myapp://auth.',
    default: '',
    parse: list,
  },
  KAKAO_CLIENT_ID: {
    doc: 'Kakao REST API key. Unset: Kakao login disabled.',
    default: '',
    parse: optional(str),
  },
  KAKAO_CLIENT_SECRET: {
    doc: 'Kakao client secret (when enabled in the Kakao console).',
    default: '',
    parse: optional(str),
    secret: true,
  },
  KAKAO_APP_ID: {
    doc: 'Numeric Kakao app id; a native-app Kakao token is accepted only when issued to this app.',
    default: '',
    parse: optional(str),
  },
  KAKAO_AUTH_BASE_URL: {
    doc: 'Kakao authorization server.',
    default: 'https://kauth.kakao.com',
    parse: url('http:', 'https:'),
  },
  KAKAO_API_BASE_URL: {
    doc: 'Kakao API server.',
    default: 'https://kapi.kakao.com',
    parse: url('http:', 'https:'),
  },
  NAVER_CLIENT_ID: {
    doc: 'Naver login client id. Unset: Naver login disabled.',
    default: '',
    parse: optional(str),
  },
  NAVER_CLIENT_SECRET: { doc: 'Naver login client secret.', default: '', parse: optional(str), secret: true },
  NAVER_AUTH_BASE_URL: {
    doc: 'Naver authorization server.',
    default: 'https://nid.naver.com',
    parse: url('http:', 'https:'),
  },
  NAVER_API_BASE_URL: {
    doc: 'Naver API server.',
    default: 'https://openapi.naver.com',
    parse: url('http:', 'https:'),
  },
  GOOGLE_CLIENT_ID: {
    doc: 'Google OAuth client id (web). Unset: Google login disabled.',
    default: '',
    parse: optional(str),
  },
  GOOGLE_CLIENT_SECRET: {
    doc: 'Google OAuth client secret.',
    default: '',
    parse: optional(str),
    secret: true,
  },
  GOOGLE_NATIVE_CLIENT_IDS: {
    doc: 'Comma-separated extra Google client ids (iOS, Android) whose ID tokens native apps may post.',
    default: '',
    parse: list,
  },
  GOOGLE_ISSUER: {
    doc: 'Google OpenID issuer; its discovery document gives the endpoints.',
    default: 'https://accounts.google.com',
    parse: url('http:', 'https:'),
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
  db: { url: string | undefined; poolMax: number; preparedStatements: boolean };
  redis: { url: string | undefined; prefix: string };
  log: { level: string; pretty: boolean };
  timeZone: string;
  jobs: { inProcess: boolean };
  files: { dir: string };
  keys: { jwtPrivateKeyPem: string | undefined; dataEncryptionKeyHex: string | undefined };
  auth: { accessTokenTtlSeconds: number; refreshIdleDays: number; refreshAbsoluteDays: number };
  events: {
    minLeadMinutes: { default: number; byKind: Record<string, number> };
    maxDaysAhead: number;
    createPerDay: number;
    createIntervalSeconds: number;
    attendanceGraceMinutes: number;
    checkInRadiusMeters: number;
    ratingWindowDays: number;
    reminderMinutes: number;
  };
  calendar: { feedPastDays: number; feedFetchesPerHour: number };
  groups: { createPerDay: number; contactInvitesPerHour: number; inviteLinkHours: number };
  locations: {
    pushIntervalMs: number;
    staleMs: number;
    writeBatchMs: number;
    shareMaxMinutes: number;
    nearbyMaxRadiusM: number;
    accessLogDays: number;
    accessLogFlushMs: number;
  };
  chat: { searchIndexSweepMs: number };
  presence: { heartbeatMs: number; staleMs: number; sweepMs: number };
  discovery: { maxRadiusKm: number; mapMaxPins: number };
  sms:
    | { provider: 'log'; allowedCountries: string[]; hourlyBudget: number }
    | {
        provider: 'sens';
        allowedCountries: string[];
        hourlyBudget: number;
        sens: { baseUrl: string; serviceId: string; accessKey: string; secretKey: string; from: string };
      };
  mail: { provider: 'log'; from: string } | { provider: 'smtp'; from: string; smtpUrl: string };
  oauth: {
    redirectAllowlist: string[];
    kakao?: {
      clientId: string;
      clientSecret?: string;
      appId?: string;
      authBaseUrl: string;
      apiBaseUrl: string;
    };
    naver?: { clientId: string; clientSecret: string; authBaseUrl: string; apiBaseUrl: string };
    google?: { clientId: string; clientSecret: string; nativeClientIds: string[]; issuer: string };
  };
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
  if (p.SMS_PROVIDER === 'sens') {
    for (const name of ['SENS_SERVICE_ID', 'SENS_ACCESS_KEY', 'SENS_SECRET_KEY', 'SENS_FROM'] as const) {
      if (!p[name]) problems.push(`${name} is required when SMS_PROVIDER=sens`);
    }
  }
  if (p.MAIL_PROVIDER === 'smtp' && !p.SMTP_URL)
    problems.push('SMTP_URL is required when MAIL_PROVIDER=smtp');
  if (p.NAVER_CLIENT_ID && !p.NAVER_CLIENT_SECRET)
    problems.push('NAVER_CLIENT_SECRET is required with NAVER_CLIENT_ID');
  if (p.GOOGLE_CLIENT_ID && !p.GOOGLE_CLIENT_SECRET)
    problems.push('GOOGLE_CLIENT_SECRET is required with GOOGLE_CLIENT_ID');
  if (p.NODE_ENV === 'production' && (p.SMS_PROVIDER === 'log' || p.MAIL_PROVIDER === 'log')) {
    problems.push('SMS_PROVIDER and MAIL_PROVIDER must not be "log" in production');
  }
  if (p.NODE_ENV === 'production') {
    // Keys generated into one node's DATA_DIR would differ on the next node and on the worker: tokens signed by
    // one would fail on another, and personal data encrypted by one could not be read by another.
    for (const name of ['JWT_PRIVATE_KEY', 'DATA_ENCRYPTION_KEY'] as const) {
      if (!p[name])
        problems.push(`${name} is required in production (the same value on every node and worker)`);
    }
  }
  if (p.PRESENCE_STALE_MS < 2 * p.PRESENCE_HEARTBEAT_MS) {
    // One late heartbeat (a GC pause, a slow Redis) must not make a connected person look offline.
    problems.push('PRESENCE_STALE_MS must be at least twice PRESENCE_HEARTBEAT_MS');
  }
  if (p.REFRESH_IDLE_DAYS > p.REFRESH_ABSOLUTE_DAYS) {
    problems.push('REFRESH_IDLE_DAYS must not exceed REFRESH_ABSOLUTE_DAYS');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(p.DATA_DIR);
  const config: Config = {
    env: p.NODE_ENV,
    http: {
      host: p.HOST,
      port: p.PORT,
      publicUrl: p.PUBLIC_URL,
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
    db: {
      url: p.DATABASE_URL,
      poolMax: p.DATABASE_POOL_MAX,
      preparedStatements: p.DATABASE_PREPARED_STATEMENTS,
    },
    redis: { url: p.REDIS_URL, prefix: p.REDIS_PREFIX },
    log: { level: p.LOG_LEVEL, pretty: p.LOG_PRETTY },
    timeZone: p.TIME_ZONE,
    jobs: { inProcess: p.JOBS_IN_PROCESS },
    files: { dir: p.FILES_DIR ? path.resolve(p.FILES_DIR) : path.join(dataDir, 'media') },
    keys: { jwtPrivateKeyPem: p.JWT_PRIVATE_KEY, dataEncryptionKeyHex: p.DATA_ENCRYPTION_KEY },
    auth: {
      accessTokenTtlSeconds: p.ACCESS_TOKEN_TTL_SECONDS,
      refreshIdleDays: p.REFRESH_IDLE_DAYS,
      refreshAbsoluteDays: p.REFRESH_ABSOLUTE_DAYS,
    },
    events: {
      minLeadMinutes: p.EVENT_MIN_LEAD_MINUTES,
      maxDaysAhead: p.EVENT_MAX_DAYS_AHEAD,
      createPerDay: p.EVENT_CREATE_PER_DAY,
      createIntervalSeconds: p.EVENT_CREATE_INTERVAL_SECONDS,
      attendanceGraceMinutes: p.ATTENDANCE_GRACE_MINUTES,
      checkInRadiusMeters: p.CHECKIN_RADIUS_METERS,
      ratingWindowDays: p.RATING_WINDOW_DAYS,
      reminderMinutes: p.EVENT_REMINDER_MINUTES,
    },
    calendar: {
      feedPastDays: p.CALENDAR_FEED_PAST_DAYS,
      feedFetchesPerHour: p.CALENDAR_FEED_FETCHES_PER_HOUR,
    },
    groups: {
      createPerDay: p.GROUP_CREATE_PER_DAY,
      contactInvitesPerHour: p.GROUP_CONTACT_INVITES_PER_HOUR,
      inviteLinkHours: p.GROUP_INVITE_LINK_HOURS,
    },
    locations: {
      pushIntervalMs: p.LOCATION_PUSH_INTERVAL_MS,
      staleMs: p.LOCATION_STALE_SECONDS * 1000,
      writeBatchMs: p.LOCATION_WRITE_BATCH_MS,
      shareMaxMinutes: p.LOCATION_SHARE_MAX_MINUTES,
      nearbyMaxRadiusM: p.LOCATION_NEARBY_MAX_RADIUS_M,
      accessLogDays: p.LOCATION_ACCESS_LOG_DAYS,
      accessLogFlushMs: p.LOCATION_ACCESS_LOG_FLUSH_SECONDS * 1000,
    },
    chat: { searchIndexSweepMs: p.CHAT_SEARCH_INDEX_SWEEP_MS },
    presence: {
      heartbeatMs: p.PRESENCE_HEARTBEAT_MS,
      staleMs: p.PRESENCE_STALE_MS,
      sweepMs: p.PRESENCE_SWEEP_MS,
    },
    discovery: { maxRadiusKm: p.DISCOVERY_MAX_RADIUS_KM, mapMaxPins: p.DISCOVERY_MAP_MAX_PINS },
    sms:
      p.SMS_PROVIDER === 'sens'
        ? {
            provider: 'sens',
            allowedCountries: p.SMS_ALLOWED_COUNTRIES,
            hourlyBudget: p.SMS_HOURLY_BUDGET,
            sens: {
              baseUrl: p.SENS_BASE_URL,
              serviceId: p.SENS_SERVICE_ID!,
              accessKey: p.SENS_ACCESS_KEY!,
              secretKey: p.SENS_SECRET_KEY!,
              from: p.SENS_FROM!,
            },
          }
        : { provider: 'log', allowedCountries: p.SMS_ALLOWED_COUNTRIES, hourlyBudget: p.SMS_HOURLY_BUDGET },
    mail:
      p.MAIL_PROVIDER === 'smtp'
        ? { provider: 'smtp', from: p.MAIL_FROM, smtpUrl: p.SMTP_URL! }
        : { provider: 'log', from: p.MAIL_FROM },
    oauth: {
      redirectAllowlist: p.OAUTH_REDIRECT_ALLOWLIST,
      ...(p.KAKAO_CLIENT_ID
        ? {
            kakao: {
              clientId: p.KAKAO_CLIENT_ID,
              ...(p.KAKAO_CLIENT_SECRET ? { clientSecret: p.KAKAO_CLIENT_SECRET } : {}),
              ...(p.KAKAO_APP_ID ? { appId: p.KAKAO_APP_ID } : {}),
              authBaseUrl: p.KAKAO_AUTH_BASE_URL,
              apiBaseUrl: p.KAKAO_API_BASE_URL,
            },
          }
        : {}),
      ...(p.NAVER_CLIENT_ID
        ? {
            naver: {
              clientId: p.NAVER_CLIENT_ID,
              clientSecret: p.NAVER_CLIENT_SECRET!,
              authBaseUrl: p.NAVER_AUTH_BASE_URL,
              apiBaseUrl: p.NAVER_API_BASE_URL,
            },
          }
        : {}),
      ...(p.GOOGLE_CLIENT_ID
        ? {
            google: {
              clientId: p.GOOGLE_CLIENT_ID,
              clientSecret: p.GOOGLE_CLIENT_SECRET!,
              nativeClientIds: p.GOOGLE_NATIVE_CLIENT_IDS,
              issuer: p.GOOGLE_ISSUER,
            },
          }
        : {}),
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isLocalUrl(raw: string): boolean {
  const host = new URL(raw).hostname;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}
