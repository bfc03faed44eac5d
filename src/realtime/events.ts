import type { ErrorBody } from '../shared/errors.js';

/**
 * The Socket.IO contract. Every client event carries one payload object and an acknowledgement callback; the
 * server answers `{ ok: true, data }` or `{ ok: false, error: { code, message, details? } }`. See
 * docs/realtime.md for the protocol as client developers see it.
 */
export type AckResponse<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };
export type Ack<T> = (response: AckResponse<T>) => void;

export interface ClientToServerEvents {
  /** Round trip check; answers with the server time. */
  'system:ping': (
    payload: { nonce?: string },
    ack: Ack<{ nonce: string | null; serverTime: string }>,
  ) => void;
  /** Hands the socket a fresh access token before the current one expires (same user and session). */
  'auth:renew': (payload: { token: string }, ack: Ack<{ expiresAt: string }>) => void;
}

export interface ServerToClientEvents {
  /** The server is going away (deploy, shutdown); reconnect with backoff. */
  'system:shutdown': (payload: { reconnectInMs: number }) => void;
  /** The access token expired without renewal, or the session ended; the socket is being closed. */
  'auth:expired': (payload: { reason: 'token_expired' | 'session_ended' }) => void;
}

/** Events between server nodes through the adapter (none yet). */
export type InterServerEvents = Record<string, never>;

/** What the server keeps on each socket; set by the handshake, never by the client. */
export interface SocketData {
  userId?: string;
  sessionId?: string;
  /** When the handshake (or last renewed) access token expires, in ms since the epoch. */
  accessExpiresAt?: number;
}

export type ClientEventName = keyof ClientToServerEvents;
type AckOf<E extends ClientEventName> = Parameters<ClientToServerEvents[E]>[1];
export type ClientEventResult<E extends ClientEventName> = AckOf<E> extends Ack<infer T> ? T : never;
