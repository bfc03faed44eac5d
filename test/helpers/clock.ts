import type { Clock } from '../../src/infra/clock.js';

/** A clock tests move by hand; it starts at the real time so the database's own now() stays close. */
export class ManualClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
