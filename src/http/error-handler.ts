import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';
import {
  AppError,
  isAppError,
  refusedInput,
  toErrorBody,
  type ErrorCode,
  type ErrorDetail,
} from '../shared/errors.js';
import { securityEvent } from '../shared/security-log.js';

/** Fastify's own error codes, mapped to ours. Anything not listed and not an AppError is a 500. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_INVALID_URL: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'BAD_REQUEST',
};

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  PAYLOAD_TOO_LARGE: 'The request body is too large.',
  UNSUPPORTED_MEDIA_TYPE: 'This content type is not accepted here; send application/json.',
  MALFORMED_JSON: 'The request body is not valid JSON.',
};

function validationDetails(err: FastifyError): ErrorDetail[] {
  const context = err.validationContext ?? 'body';
  return (err.validation ?? []).slice(0, 20).map((v) => {
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    const path = `/${context}${v.instancePath ?? ''}${missing ? `/${missing}` : ''}`;
    return { path, message: v.message ?? 'is not valid' };
  });
}

/** Turns any thrown value into an AppError; unknown errors become INTERNAL (the caller logs them). */
export function normalizeError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const fe = err as FastifyError & { type?: string };
  if (fe.validation) {
    return new AppError('VALIDATION_FAILED', 'The request is not valid.', { details: validationDetails(fe) });
  }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new AppError(mapped, MESSAGES[mapped]);
  // The JSON parser (secure-json-parse) throws SyntaxErrors with status 400, without a code: for bad JSON, and
  // for `__proto__`/`constructor.prototype` keys, which only its message tells apart.
  if (err instanceof SyntaxError && fe.statusCode === 400) {
    return fe.message.includes('prototype')
      ? new AppError('BAD_REQUEST', 'The request body contains a forbidden property name.')
      : new AppError('MALFORMED_JSON', MESSAGES.MALFORMED_JSON);
  }
  if (fe.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', MESSAGES.PAYLOAD_TOO_LARGE);
  if (fe.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', MESSAGES.UNSUPPORTED_MEDIA_TYPE);
  if (fe.statusCode === 400) return new AppError('BAD_REQUEST', 'The request is malformed.');
  return refusedInput(err) ?? new AppError('INTERNAL');
}

/**
 * Every 429 (the API-wide per-IP limit and each named limit a service enforces) and every 403 is a security
 * event, logged here once for all routes: the request id and UTC time come from the request's logger. Only the
 * rule's name and the error code are logged, never the error's details (a 403 may carry a restore token).
 */
function logDenial(request: FastifyRequest, err: AppError): void {
  const fields = {
    actor: request.actor?.userId ?? null,
    ip: request.ip,
    method: request.method,
    route: request.routeOptions.url ?? null,
  };
  if (err.code === 'RATE_LIMITED') {
    const rule = (err.details as { rule?: unknown } | undefined)?.rule;
    securityEvent(request.log, 'rate_limited', { ...fields, rule: typeof rule === 'string' ? rule : null });
  } else {
    securityEvent(request.log, 'authz.denied', { ...fields, code: err.code });
  }
}

function send(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.headers) void reply.headers(err.headers);
  return reply.code(err.status).type('application/json; charset=utf-8').send(toErrorBody(err));
}

/**
 * Errors, unknown routes and wrong methods all answer `{ code, message, details? }`. 5xx bodies are generic: no
 * stack trace, SQL or file path ever leaves the process (it goes to the log with the request id instead).
 */
export function registerErrorHandling(app: FastifyInstance): void {
  // A shadow router of every registered path, so an unknown method on a known path answers 405 with Allow.
  const routes = FindMyWay({ ignoreTrailingSlash: true });
  const noop = () => undefined;
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      try {
        routes.on(method.toUpperCase() as FindMyWay.HTTPMethod, route.url, noop);
      } catch {
        // duplicate registrations (HEAD added automatically) are fine
      }
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const appError = normalizeError(err);
    if (appError.status >= 500) {
      request.log.error({ err, code: appError.code }, 'request failed');
    } else if (appError.code === 'RATE_LIMITED' || appError.status === 403) {
      logDenial(request, appError);
    } else if (appError.status === 401) {
      request.log.info({ event: 'request_denied', code: appError.code }, appError.message);
    }
    return send(reply, appError);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const).filter(
      (m) => m !== request.method && routes.find(m, path) !== null,
    );
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '));
      return send(reply, new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here.`));
    }
    return send(reply, new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${path}.`));
  });
}
