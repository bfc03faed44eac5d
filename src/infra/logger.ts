import {
  pino,
  stdSerializers,
  stdTimeFunctions,
  type DestinationStream,
  type Logger,
  type LoggerOptions,
} from 'pino';
import type { Config } from '../config.js';

/**
 * Secrets never reach a log line: values under these keys are censored wherever they appear in a logged object
 * (three levels deep), when the line is written. pino's own `redact` is not used because it also runs on every
 * child logger's bindings, and Fastify makes a child logger per request.
 */
const SECRET_KEYS = new Set(
  [
    'authorization',
    'cookie',
    'set-cookie',
    'x-api-key',
    'password',
    'newPassword',
    'currentPassword',
    'passwordHash',
    'token',
    'accessToken',
    'refreshToken',
    'idToken',
    'providerToken',
    'otp',
    'otpCode',
    'verificationCode',
    'secret',
    'clientSecret',
    'phone',
    'newPhone',
    'privateKey',
  ].map((k) => k.toLowerCase()),
);

const CENSOR = '[REDACTED]';

export function censorSecrets(value: unknown, depth = 0): unknown {
  if (depth > 3 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => censorSecrets(v, depth + 1));
  // Only plain data is walked and copied: a copy of a class instance (a request, an error) would lose its
  // prototype's getters, and those reach the log only through their serializers, which pick safe fields.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    const replaced = SECRET_KEYS.has(key.toLowerCase()) ? CENSOR : censorSecrets(v, depth + 1);
    if (replaced !== v) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = replaced;
    }
  }
  return copy ?? value;
}

/** Query parameters that carry one-time secrets (OAuth codes, feed tokens); masked in logged URLs. */
const SECRET_QUERY_PARAMS = /([?&](?:code|state|token|access_token|id_token|refresh_token|key)=)[^&#]*/gi;
/** Path segments that are secrets: the file name of a calendar feed URL. */
const SECRET_PATHS = /(\/v1\/calendar\/feeds\/)[^/?#]+/gi;

export function maskUrl(url: string): string {
  return url.replace(SECRET_PATHS, '$1[REDACTED]').replace(SECRET_QUERY_PARAMS, '$1[REDACTED]');
}

/**
 * Errors as pino serializes them, minus query parameters: a failed drizzle query carries its bound values (emails,
 * hashes, tokens) in `params` and at the end of its message.
 */
export function serializeError(err: Error): Record<string, unknown> {
  const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
  const scrub = (o: Record<string, unknown>) => {
    if ('params' in o) o.params = CENSOR;
    if (typeof o.message === 'string')
      o.message = o.message.replace(/\nparams: [\s\S]*$/, `\nparams: ${CENSOR}`);
    if (typeof o.stack === 'string') o.stack = o.stack.replace(/\nparams: [^\n]*/, `\nparams: ${CENSOR}`);
    // PostgreSQL's detail names the offending values: "Key (email)=(kim@example.com) already exists."
    if (typeof o.detail === 'string') o.detail = o.detail.replace(/=\(.*?\)( |$)/g, `=(${CENSOR})$1`);
    if (o.cause && typeof o.cause === 'object') scrub(o.cause as Record<string, unknown>);
  };
  scrub(out);
  return out;
}

export function loggerOptions(config: Pick<Config, 'log'>): LoggerOptions {
  return {
    level: config.log.level,
    timestamp: stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => censorSecrets(obj) as Record<string, unknown>,
    },
    serializers: {
      err: serializeError,
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: maskUrl(req.url),
        ip: req.ip,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

export function createLogger(config: Pick<Config, 'log'>, destination?: DestinationStream): Logger {
  const options = loggerOptions(config);
  if (destination) return pino(options, destination);
  if (config.log.pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { translateTime: 'UTC:isoTime' } },
    });
  }
  return pino(options);
}

export type { Logger };
