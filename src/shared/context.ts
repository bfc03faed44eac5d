/** Who is calling: always taken from a verified access token, never from a request body. */
export interface Actor {
  userId: string;
  sessionId: string;
  role: 'user' | 'admin';
}

/** The logging surface services need; both pino loggers and Fastify's request logger satisfy it. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Where a call comes from, for rate limits and the security log. `log` carries the request id. */
export interface RequestMeta {
  ip: string;
  userAgent: string | null;
  /** The signed-in user making the request, if any: the `actor` of security events that have no other. */
  actorId: string | null;
  log: Log;
}
