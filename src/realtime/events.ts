import type { MessageView } from '../modules/chat/chat.dto.js';
import type { SyncResult } from '../modules/chat/chat.service.js';
import type {
  Audience,
  Layer,
  LocationFrame,
  Precision,
  ShareView,
  StopReason,
} from '../modules/locations/locations.dto.js';
import type { PresenceView } from '../modules/presence/presence.service.js';
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

  /** Sends a text message; acknowledged once it is stored. A retry with the same clientId returns the same message. */
  'chat:send': (
    payload: { conversationId: string; clientId: string; body: string },
    ack: Ack<{ message: MessageView; duplicate: boolean }>,
  ) => void;
  /** Everything after `afterSeq`, and edits/deletions after change `sinceChange`: call after any reconnect. */
  'chat:sync': (
    payload: { conversationId: string; afterSeq: number; sinceChange?: number },
    ack: Ack<SyncResult>,
  ) => void;
  /** A page of history, oldest first: before `beforeSeq` (or the latest page), or after `afterSeq`. */
  'chat:history': (
    payload: { conversationId: string; beforeSeq?: number; afterSeq?: number; limit?: number },
    ack: Ack<{ messages: MessageView[]; hasMore: boolean }>,
  ) => void;
  /** Moves my read position forward. */
  'chat:read': (payload: { conversationId: string; seq: number }, ack: Ack<{ lastReadSeq: number }>) => void;
  /** "I am typing": relayed to the other members, at most once every 2 seconds per conversation. */
  'chat:typing': (payload: { conversationId: string }, ack: Ack<Record<string, never>>) => void;

  /** Presence of people I share a group or event with (others are left out of the answer). */
  'presence:query': (payload: { userIds: string[] }, ack: Ack<{ presence: PresenceView[] }>) => void;

  /** Starts sharing my location with an audience (the same as POST /v1/me/location/shares). */
  'location:share_start': (
    payload: { audience: Audience; precision: Precision; durationMinutes?: number },
    ack: Ack<{ share: ShareView }>,
  ) => void;
  /** Stops a share at once: nobody receives that share's position afterwards. */
  'location:share_stop': (payload: { shareId: string }, ack: Ack<{ share: ShareView }>) => void;
  /**
   * My current position, at most once a second (sustained; a burst of 3 is tolerated). It goes to my active
   * shares only, each snapped to its precision; with no active share it is dropped, never stored.
   */
  'location:update': (payload: { lat: number; lng: number }, ack: Ack<{ shares: number }>) => void;
  /** Watches a layer; the first frame comes in the ack, later ones as `location:frame` when something changed. */
  'location:subscribe': (
    payload: { layer: Layer },
    ack: Ack<{ subscriptionId: string; intervalMs: number; frame: LocationFrame }>,
  ) => void;
  'location:unsubscribe': (payload: { subscriptionId: string }, ack: Ack<Record<string, never>>) => void;
}

export interface ServerToClientEvents {
  /** The server is going away (deploy, shutdown); reconnect with backoff. */
  'system:shutdown': (payload: { reconnectInMs: number }) => void;
  /** The access token expired without renewal, or the session ended; the socket is being closed. */
  'auth:expired': (payload: { reason: 'token_expired' | 'session_ended' }) => void;

  /** A new message in one of my conversations (mine included). */
  'chat:message': (payload: MessageView) => void;
  /** A message was edited or deleted (a tombstone: body null, deleted true). */
  'chat:message_updated': (payload: MessageView) => void;
  /** Someone moved their read position. */
  'chat:read': (payload: { conversationId: string; userId: string; seq: number }) => void;
  'chat:typing': (payload: { conversationId: string; userId: string }) => void;
  'chat:notice': (payload: {
    conversationId: string;
    text: string | null;
    by: string | null;
    at: string | null;
  }) => void;

  /** Someone I share a group or event with came online or went offline. */
  'presence:changed': (payload: PresenceView) => void;

  /** What a subscription shows now (people, and open events for nearby), pushed only when it changed. */
  'location:frame': (payload: LocationFrame) => void;
  /** A subscription ended by the server: left or removed from the event or group, cancelled, or ended. */
  'location:unsubscribed': (payload: { subscriptionId: string; reason: 'audience_left' | 'ended' }) => void;
  /** One of my shares ended without my asking (expired, session ended, left the audience...). */
  'location:share_ended': (payload: { shareId: string; reason: StopReason }) => void;
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
