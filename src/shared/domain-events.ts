/**
 * The one table of domain events: every change other modules (notifications, realtime, reminders, badges) may
 * react to. Producers write them to the outbox inside their transaction; the relay delivers them after commit.
 * Payloads carry ids and the few fields consumers need, never secrets.
 */
export interface DomainEvents {
  /** Emitted by the operations module when an operator asks the relay to prove it is alive. */
  'system.probe': { note: string };

  // accounts
  'user.registered': { userId: string; method: string };
  /** A session ended (logout, revocation, token reuse, password change...): its sockets must go. */
  'session.revoked': { sessionId: string; userId: string; reason: string };
  /** Soft-deleted; restorable until `purgeAfter`. Hosted groups and events are handed over or closed. */
  'user.deleted': { userId: string; purgeAfter: string };
  'user.restored': { userId: string };
  /** Personal data erased; authored content stays, shown as from a deleted user. */
  'user.purged': { userId: string };
}

export type DomainTopic = keyof DomainEvents;

export interface DomainEvent<K extends DomainTopic = DomainTopic> {
  id: number;
  topic: K;
  payload: DomainEvents[K];
  actorId: string | null;
  createdAt: Date;
}
