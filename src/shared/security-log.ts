import type { Log } from './context.js';

/**
 * The security events we log, one structured line each (ASVS V16): UTC time and the request id come from the
 * logger, the caller adds the actor and IP. Values that identify secrets (tokens, codes, phone numbers) are
 * never passed here.
 */
export type SecurityEvent =
  | 'auth.signup'
  | 'auth.login.success'
  | 'auth.login.failure'
  | 'auth.logout'
  | 'auth.refresh.reuse_detected'
  | 'auth.session.revoked'
  | 'auth.password.changed'
  | 'auth.password.reset'
  | 'auth.phone.changed'
  | 'auth.identity.linked'
  | 'auth.identity.unlinked'
  | 'auth.oauth.failure'
  | 'account.deleted'
  | 'account.restored'
  | 'account.purged'
  | 'otp.sent'
  | 'otp.suppressed'
  | 'otp.verify.success'
  | 'otp.verify.failure'
  | 'sms.budget_exhausted'
  | 'rate_limited'
  | 'authz.denied';

export function securityEvent(
  log: Log,
  event: SecurityEvent,
  fields: { actor?: string | null; ip?: string | null; [key: string]: unknown } = {},
): void {
  const level = event === 'auth.refresh.reuse_detected' || event === 'sms.budget_exhausted' ? 'warn' : 'info';
  log[level]({ security: true, event, actor: fields.actor ?? null, ...fields }, event);
}
