import { randomBytes } from 'node:crypto';
import { AppError } from '../../shared/errors.js';

/**
 * Purged accounts keep a row (authored content still points at it) under a nickname of this prefix and 12 random
 * hex characters, which frees the person's nickname. Nobody else may choose the prefix, so a purge can never
 * take a live person's name, nor a live person pass for a deleted one.
 */
export const PURGED_NICKNAME_PREFIX = 'deleted-';

export function isReservedNickname(nickname: string): boolean {
  return nickname.toLowerCase().startsWith(PURGED_NICKNAME_PREFIX);
}

/** Refuses a nickname a person may not choose (the schema already checked its length and characters). */
export function checkNickname(nickname: string): void {
  if (isReservedNickname(nickname)) {
    throw new AppError('VALIDATION_FAILED', 'This nickname is reserved.', {
      details: [{ path: '/body/nickname', message: `must not start with "${PURGED_NICKNAME_PREFIX}"` }],
    });
  }
}

/** `deleted-` and 48 random bits: 20 characters, the longest nickname allowed. */
export function purgedNickname(): string {
  return `${PURGED_NICKNAME_PREFIX}${randomBytes(6).toString('hex')}`;
}
