import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The few cookies the API sets (it authenticates with bearer tokens; cookies only bind a browser flow to the
 * browser that started it). Values are base64url tokens, so no encoding is needed.
 */
export interface CookieOptions {
  path: string;
  maxAgeSeconds: number;
  /** Send only over https (set when PUBLIC_URL is https). */
  secure: boolean;
}

/** The value of one cookie of the request, or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Adds a Set-Cookie: httpOnly (no script reads it) and SameSite=Lax (sent on the top-level GET navigation a
 * provider redirects the browser with, never on cross-site subrequests). A max age of 0 clears it.
 */
export function setCookie(reply: FastifyReply, name: string, value: string, opts: CookieOptions): void {
  const parts = [
    `${name}=${value}`,
    `Path=${opts.path}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ];
  // Fastify appends Set-Cookie headers rather than replacing them.
  void reply.header('set-cookie', parts.join('; '));
}
