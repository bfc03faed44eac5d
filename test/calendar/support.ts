import type { TestApp } from '../helpers/app.js';
import type { SignedUp } from '../helpers/accounts.js';

/** An instant given as Korean wall-clock time (KST is UTC+9 all year: no daylight saving). */
export const kst = (y: number, m: number, d: number, h = 0, min = 0) =>
  new Date(Date.UTC(y, m - 1, d, h - 9, min));

/** The KST year and month `monthsAhead` months after the app clock's current KST month. */
export function kstMonth(t: TestApp, monthsAhead: number): { y: number; m: number; label: string } {
  const now = new Date(t.infra.clock.now().getTime() + 9 * 3_600_000);
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + monthsAhead, 1));
  const y = first.getUTCFullYear();
  const m = first.getUTCMonth() + 1;
  return { y, m, label: `${y}-${String(m).padStart(2, '0')}` };
}

export const label = (y: number, m: number, d?: number) =>
  `${y}-${String(m).padStart(2, '0')}${d === undefined ? '' : `-${String(d).padStart(2, '0')}`}`;

export const span = (start: Date, minutes: number) => ({
  startsAt: start.toISOString(),
  endsAt: new Date(start.getTime() + minutes * 60_000).toISOString(),
});

export function get(t: TestApp, url: string, who?: SignedUp, headers: Record<string, string> = {}) {
  return t.app.inject({ url, headers: { ...(who ? who.headers : {}), ...headers } });
}
