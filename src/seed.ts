import type { Infra } from './infra/infra.js';
import type { Modules } from './modules/index.js';
import { AppError } from './shared/errors.js';

export const DEMO_PASSWORD = 'moim-demo-1234';

const DEMO_USERS = [
  { email: 'minji@moim.local', nickname: '민지', bio: '주말 한강 러닝 크루' },
  { email: 'junho@moim.local', nickname: '준호', bio: '동네 보드게임 모임장' },
  { email: 'seoyeon@moim.local', nickname: '서연', bio: '가족 앨범 담당' },
];

/**
 * Demo data so a newcomer can try the API at once (`moim seed`). Idempotent: existing demo users are kept.
 * Goes through the services, so the data obeys every rule real data does.
 */
export async function seed(infra: Infra, modules: Modules): Promise<string[]> {
  const meta = { ip: '127.0.0.1', userAgent: 'moim seed', actorId: null, log: infra.logger };
  const lines: string[] = [];
  for (const user of DEMO_USERS) {
    try {
      await modules.accounts.auth.signupWithEmail({ ...user, password: DEMO_PASSWORD }, meta);
      const created = await modules.accounts.repo.findUserByEmail(infra.database.db, user.email);
      if (created) await modules.accounts.repo.updateUser(infra.database.db, created.id, { bio: user.bio });
      lines.push(`created ${user.email}`);
    } catch (err) {
      if (!(err instanceof AppError) || (err.code !== 'EMAIL_TAKEN' && err.code !== 'NICKNAME_TAKEN'))
        throw err;
      lines.push(`kept    ${user.email}`);
    }
  }
  lines.push(`password for every demo user: ${DEMO_PASSWORD}`);
  return lines;
}
