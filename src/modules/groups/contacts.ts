import type { Infra } from '../../infra/infra.js';
import { maskPhone } from '../../infra/sms/sms.js';
import type { AccountsModule } from '../accounts/accounts.module.js';
import type { ContactDirectory } from './invitations.service.js';

/**
 * The contact look-up behind invitations by phone or email, over the accounts module: numbers are normalized and
 * matched by their keyed hash (accounts never store them in clear), emails case-insensitively; deleted accounts
 * are not found.
 */
export function contactDirectory(infra: Infra, accounts: AccountsModule): ContactDirectory {
  const db = infra.database.db;
  return {
    async resolve(contact) {
      if ('phone' in contact) {
        const phone = accounts.verification.phone(contact.phone);
        const hash = accounts.verification.phoneHash(phone);
        const user = await accounts.repo.findUserByPhoneHash(db, hash);
        return { hash, hint: maskPhone(phone.e164), userId: user && !user.deletedAt ? user.id : null };
      }
      const email = contact.email.trim().toLowerCase();
      const user = await accounts.repo.findUserByEmail(db, email);
      return {
        hash: infra.protector.hash('group-invite-email', email),
        hint: maskEmail(email),
        userId: user && !user.deletedAt ? user.id : null,
      };
    },
  };
}

/** grandma@example.com → gr***@example.com */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  return `${local.slice(0, Math.min(2, Math.max(1, local.length - 1)))}***${email.slice(at)}`;
}
