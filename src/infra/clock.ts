/** Time as a port, so rules that depend on it (expiry, lead times, reminders) are tested with a controlled clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
