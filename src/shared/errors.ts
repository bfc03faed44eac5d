/**
 * The one error table. Services throw `AppError` with a code from this table; the HTTP error handler and the
 * socket gateway turn it into `{ code, message, details? }` with the status listed here. Adding a code here is
 * the only way to add a new failure a client can see.
 */
export const ERROR_STATUS = {
  // generic request problems
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,

  // accounts
  INVALID_CREDENTIALS: 401,
  TOKEN_REUSED: 401,
  SESSION_EXPIRED: 401,
  REAUTHENTICATION_REQUIRED: 403,
  ACCOUNT_PENDING_DELETION: 403,
  NICKNAME_TAKEN: 409,
  EMAIL_TAKEN: 409,
  PHONE_TAKEN: 409,
  IDENTITY_IN_USE: 409,
  LAST_SIGN_IN_METHOD: 409,
  WEAK_PASSWORD: 400,
  PHONE_INVALID: 400,
  PHONE_COUNTRY_NOT_ALLOWED: 400,
  CODE_INVALID: 400,
  VERIFICATION_REQUIRED: 400,
  REDIRECT_NOT_ALLOWED: 400,
  OAUTH_STATE_INVALID: 400,
  OAUTH_FAILED: 400,
  OAUTH_PROVIDER_DISABLED: 404,
  SMS_UNAVAILABLE: 503,

  // events
  EVENT_FULL: 409,
  EVENT_STARTED: 409,
  EVENT_CANCELLED: 409,
  EVENT_LOCKED: 409,
  EVENT_TOO_SOON: 400,
  EVENT_TOO_FAR: 400,
  DUPLICATE_EVENT: 409,
  VISIBILITY_NOT_ALLOWED: 400,
  APPLICATIONS_CLOSED: 409,
  ALREADY_PARTICIPATING: 409,
  NOT_PARTICIPATING: 409,
  HOST_CANNOT_LEAVE: 409,
  KICKED_FROM_EVENT: 403,
  APPLICATION_REJECTED: 403,
  INVITATION_REQUIRED: 403,
  INVITATION_NOT_PENDING: 409,
  APPLICATION_NOT_PENDING: 409,
  ALREADY_INVITED: 409,
  CAPACITY_BELOW_GOING: 409,
  ROSTER_NOT_CONFIRMED: 409,
  ATTENDANCE_CLOSED: 409,
  NOT_AT_MEETING_POINT: 409,
  NOT_ATTENDED: 403,
  ALREADY_RATED: 409,
  RATING_CLOSED: 409,
  NOT_A_MEMBER: 403,

  // calendar
  CALENDAR_FEED_EXISTS: 409,
  // groups
  GROUP_FULL: 409,
  ALREADY_MEMBER: 409,
  BANNED_FROM_GROUP: 403,
  ALREADY_BANNED: 409,
  NOT_BANNED: 409,
  JOIN_REQUEST_PENDING: 409,
  JOIN_REQUEST_NOT_PENDING: 409,
  OWNER_MUST_TRANSFER: 409,
  DISPLAY_NAME_TAKEN: 409,
  MEMBER_CAP_BELOW_MEMBERS: 409,
  INVITE_LINK_INVALID: 404,

  // chat
  CONVERSATION_ARCHIVED: 409,
  MESSAGE_DELETED: 409,
  USER_BLOCKED: 403,

  // live location
  LOCATION_RATE_LIMITED: 429,
  LOCATION_SHARE_NOT_OPEN: 409,
  LOCATION_PRECISION_NOT_ALLOWED: 400,
  LOCATION_SUBSCRIPTION_LIMIT: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  /** JSON pointer-ish path of the offending field, e.g. `/body/email`. */
  path?: string;
  message: string;
  [key: string]: unknown;
}

const DEFAULT_MESSAGES: Partial<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'The request is not valid.',
  UNAUTHENTICATED: 'Authentication is required.',
  FORBIDDEN: 'You may not do this.',
  NOT_FOUND: 'Not found.',
  CONFLICT: 'The request conflicts with the current state.',
  RATE_LIMITED: 'Too many requests. Try again later.',
  INTERNAL: 'Something went wrong on our side.',
  SERVICE_UNAVAILABLE: 'The service is temporarily unavailable.',
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | Record<string, unknown> | undefined;
  /** Extra response headers (e.g. `Retry-After`), set by the rule that raised the error. */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { details?: ErrorDetail[] | Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    // An AppError is an answer to the caller, not a fault to debug: no stack. Some are raised on hot paths (a
    // refused location update), where capturing one cost more than the rest of the request.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? DEFAULT_MESSAGES[code] ?? code);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** The body every failure has, over HTTP and in socket acks. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[] | Record<string, unknown>;
}

export function toErrorBody(err: AppError): ErrorBody {
  return err.details === undefined
    ? { code: err.code, message: err.message }
    : { code: err.code, message: err.message, details: err.details };
}

/**
 * Text PostgreSQL cannot store (a NUL byte, an invalid byte sequence) is refused by the database itself, inside
 * whatever query carried it: that is the caller's input, not a server failure. drizzle wraps the driver's error,
 * so the SQLSTATE is looked for along the `cause` chain.
 */
export function refusedInput(err: unknown): AppError | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '22021' || code === '22P05') {
      return new AppError(
        'VALIDATION_FAILED',
        'The request contains text that cannot be stored (e.g. a NUL byte).',
      );
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
