import { systemClock, type Clock } from './clock.js';
import type { SmsType } from './sms/sms.js';

/**
 * What the `log` SMS and mail adapters "sent", kept in memory so a developer (or a test) can read the OTP or
 * reset code that would have reached a phone or inbox. It is deliberately never logged and never persisted:
 * the log adapters mask codes in the log, and this is the only place the full text lives. Bounded, so a
 * long-running dev server does not grow without limit. One instance per process, made by the composition
 * root and handed to the adapters.
 */
export type DevOutboxChannel = 'sms' | 'mail';

export interface DevOutboxSms {
  channel: 'sms';
  /** E.164, as the caller passed it. */
  to: string;
  type: SmsType;
  text: string;
  subject?: string;
  at: Date;
}

export interface DevOutboxMail {
  channel: 'mail';
  to: string;
  subject: string;
  text: string;
  html?: string;
  at: Date;
}

export type DevOutboxItem = DevOutboxSms | DevOutboxMail;

/** An item as the adapters push it; the outbox stamps the time. */
export type DevOutboxEntry = Omit<DevOutboxSms, 'at'> | Omit<DevOutboxMail, 'at'>;

export interface DevOutboxFilter {
  channel?: DevOutboxChannel;
  /** Exact recipient; e-mail addresses compare case-insensitively. */
  to?: string;
}

export const DEV_OUTBOX_CAPACITY = 200;

export class DevOutbox {
  private readonly items: DevOutboxItem[] = [];
  private readonly watchers = new Set<(item: DevOutboxItem) => void>();
  private readonly capacity: number;
  private readonly clock: Clock;

  constructor(options: { capacity?: number; clock?: Clock } = {}) {
    this.capacity = Math.max(1, options.capacity ?? DEV_OUTBOX_CAPACITY);
    this.clock = options.clock ?? systemClock;
  }

  push(entry: DevOutboxEntry): DevOutboxItem {
    const item: DevOutboxItem = { ...entry, at: this.clock.now() };
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    for (const watch of this.watchers) watch({ ...item });
    return { ...item };
  }

  /**
   * Calls `watch` with every item pushed from now on (the test harness registers each code as a secret that
   * must never reach the logs). Returns the function that stops watching.
   */
  watch(watch: (item: DevOutboxItem) => void): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }

  /** Matching items, oldest first (newest last). Copies, so a reader cannot rewrite history. */
  list(filter: DevOutboxFilter = {}): DevOutboxItem[] {
    return this.items.filter((item) => matches(item, filter)).map((item) => ({ ...item }));
  }

  /** The newest matching item, e.g. the latest code sent to a number. */
  last(filter: DevOutboxFilter = {}): DevOutboxItem | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      if (matches(item, filter)) return { ...item };
    }
    return undefined;
  }

  clear(): void {
    this.items.length = 0;
  }

  get size(): number {
    return this.items.length;
  }
}

function matches(item: DevOutboxItem, filter: DevOutboxFilter): boolean {
  if (filter.channel !== undefined && item.channel !== filter.channel) return false;
  if (filter.to !== undefined && item.to.toLowerCase() !== filter.to.toLowerCase()) return false;
  return true;
}
