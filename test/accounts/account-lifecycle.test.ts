import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { LIMITS } from '../../src/modules/accounts/verification.service.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  login,
  sendPhoneCode,
  signUpWithEmail,
  trackTokens,
  uniqueNickname,
  uniquePhone,
} from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, expectSessionEnded, nextEvent } from '../helpers/sockets.js';
import { startFakeSmtp, type FakeSmtp } from '../fakes/smtp-server.js';

const e164 = (phone: string) => `+82${phone.slice(1)}`;

describe('profile, password, phone, deletion and purge', () => {
  let t: TestApp;
  let smtp: FakeSmtp;
  const clock = new ManualClock();
  beforeAll(async () => {
    smtp = await startFakeSmtp();
    t = await buildTestApp({ clock, listen: true, env: smtp.env });
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  const codeFromOutbox = (phone: string) => {
    const text = t.infra.devOutbox.last({ channel: 'sms', to: e164(phone) })?.text ?? '';
    const code = /\[(\d{6})\]/.exec(text)?.[1];
    if (!code) throw new Error('no code sent');
    t.secrets.add(code);
    return code;
  };
  const resetCooldown = async (phone: string) =>
    t.infra.limiter.reset(
      LIMITS.cooldown,
      t.app.modules.accounts.verification.phoneHash({ e164: e164(phone), countryCode: '82' }),
    );

  it('updates my profile; onboarding ends with a preferred region; a taken nickname is refused', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: a.headers,
      payload: {
        bio: '주말마다 한강 달리기',
        statusMessage: 'ready',
        interests: ['running', 'hiking', 'running'],
        mood: 'happy',
        preferredRegion: 'seoul',
        preferredDistanceKm: 10,
        level: 2,
        smsConsent: true,
        role: 'admin',
        tokensValidAfter: '1970-01-01T00:00:00Z',
      },
    });
    expect(res.statusCode).toBe(200);
    const me = res.json() as Json;
    expect(me).toMatchObject({
      bio: '주말마다 한강 달리기',
      interests: ['running', 'hiking'],
      preferredRegion: 'seoul',
      level: 2,
      smsConsent: true,
      role: 'user',
      needsOnboarding: false,
    });
    const clash = await t.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: a.headers,
      payload: { nickname: b.nickname },
    });
    expect(clash.statusCode).toBe(409);
    const bad = await t.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: a.headers,
      payload: { level: 9 },
    });
    expect(bad.statusCode).toBe(400);
  });

  it("shows another person's public card only: no email, phone or settings", async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const res = await t.app.inject({ url: `/v1/users/${b.userId}`, headers: a.headers });
    expect(res.statusCode).toBe(200);
    const card = res.json() as Json;
    expect(Object.keys(card).sort()).toEqual(
      ['avatarUrl', 'bio', 'createdAt', 'id', 'interests', 'level', 'nickname', 'statusMessage'].sort(),
    );
    expect(res.body).not.toContain(b.email);
    const anonymous = await t.app.inject({ url: `/v1/users/${b.userId}` });
    expect(anonymous.statusCode).toBe(200);
    const missing = await t.app.inject({ url: '/v1/users/00000000-0000-4000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
  });

  it('changes the password with the current one; other sessions end, this one stays', async () => {
    const a = await signUpWithEmail(t);
    const other = await login(t, a.email, a.password);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: a.headers,
      payload: { currentPassword: 'not it', newPassword: 'brand new secret 1' },
    });
    expect(wrong.statusCode).toBe(403);
    t.secrets.add('brand new secret 1');
    const otherSocket = await connectSocket(t.url, { token: other.accessToken });
    const ownSocket = await connectSocket(t.url, { token: a.accessToken });
    const ended = await expectSessionEnded(otherSocket, async () => {
      const ok = await t.app.inject({
        method: 'POST',
        url: '/v1/me/password',
        headers: a.headers,
        payload: { currentPassword: a.password, newPassword: 'brand new secret 1' },
      });
      expect(ok.statusCode).toBe(204);
    });
    expect(ended).toEqual({ reason: 'session_ended' });
    // Delivered in the same outbox pass: had this session's socket been told to go, it would be gone by now.
    expect(ownSocket.connected).toBe(true);
    otherSocket.close();
    ownSocket.close();
    expect((await t.app.inject({ url: '/v1/me', headers: other.headers })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/v1/me', headers: a.headers })).statusCode).toBe(200);
    await login(t, a.email, 'brand new secret 1');
  });

  it('resets a forgotten password with a mailed code; every session ends', async () => {
    const a = await signUpWithEmail(t);
    const sent = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/email/send-code',
      payload: { email: a.email, purpose: 'reset' },
    });
    expect(sent.statusCode).toBe(202);
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/email/send-code',
      payload: { email: 'nobody-here@example.com', purpose: 'reset' },
    });
    expect(unknown.json()).toEqual(sent.json());
    await t.app.modules.accounts.verification.idle();
    const mail = await smtp.waitForMail({ to: a.email });
    const code = /(\d{6})/.exec(mail.text ?? '')![1]!;
    t.secrets.add(code);
    expect(smtp.mails.filter((m) => m.to.includes('nobody-here@example.com'))).toHaveLength(0);
    t.secrets.add('reset by mail pass');
    // A password that is refused does not spend the code.
    const weak = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { email: a.email, code, newPassword: 'password123' },
    });
    expect((weak.json() as Json).code).toBe('WEAK_PASSWORD');
    const socket = await connectSocket(t.url, { token: a.accessToken });
    const ended = await expectSessionEnded(socket, async () => {
      const reset = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/password/reset',
        payload: { email: a.email, code, newPassword: 'reset by mail pass' },
      });
      expect(reset.statusCode).toBe(204);
    });
    expect(ended).toEqual({ reason: 'session_ended' });
    socket.close();
    expect((await t.app.inject({ url: '/v1/me', headers: a.headers })).statusCode).toBe(401);
    await login(t, a.email, 'reset by mail pass');
    const twice = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { email: a.email, code, newPassword: 'another reset pass' },
    });
    expect((twice.json() as Json).code).toBe('CODE_INVALID');
    const both = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { email: a.email, phone: '01012345678', code, newPassword: 'another reset pass' },
    });
    expect(both.statusCode).toBe(400);
  });

  async function phoneAccount() {
    const phone = uniquePhone(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'signup' },
    });
    await t.app.modules.accounts.verification.idle();
    const code = codeFromOutbox(phone);
    const { verificationId } = (
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/verify',
        payload: { phone, purpose: 'signup', code },
      })
    ).json() as Json;
    const password = `phone-pw-${phone.slice(-4)}-x`;
    t.secrets.add(password);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/phone',
      payload: { phone, verificationId, password, nickname: uniqueNickname() },
    });
    const tokens = trackTokens(t, (res.json() as Json).tokens);
    await resetCooldown(phone);
    const { id: userId, nickname } = (res.json() as Json).user as { id: string; nickname: string };
    return { phone, password, userId, nickname, ...tokens };
  }

  it('resets a phone account password with an SMS code', async () => {
    const a = await phoneAccount();
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone: a.phone, purpose: 'reset' },
    });
    await t.app.modules.accounts.verification.idle();
    const code = codeFromOutbox(a.phone);
    t.secrets.add('reset by sms pass');
    // The nickname rule needs the account, so it is checked once the code has matched; the code survives it.
    const nickname = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { phone: a.phone, code, newPassword: a.nickname },
    });
    expect(nickname.json()).toMatchObject({
      code: 'WEAK_PASSWORD',
      details: [{ message: 'not your nickname' }],
    });
    const reset = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { phone: a.phone, code, newPassword: 'reset by sms pass' },
    });
    expect(reset.statusCode).toBe(204);
    const signin = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { phone: a.phone, password: 'reset by sms pass' },
    });
    expect(signin.statusCode).toBe(200);
    trackTokens(t, (signin.json() as Json).tokens);
  });

  it('moves an account to a new number proven by a code to that number; other sessions end', async () => {
    const a = await phoneAccount();
    const second = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { phone: a.phone, password: a.password },
    });
    const other = trackTokens(t, (second.json() as Json).tokens);
    const newPhone = uniquePhone(t);
    const send = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      headers: a.headers,
      payload: { phone: newPhone, purpose: 'change_phone' },
    });
    expect(send.statusCode).toBe(202);
    await t.app.modules.accounts.verification.idle();
    const code = codeFromOutbox(newPhone);
    const { verificationId } = (
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/verify',
        payload: { phone: newPhone, purpose: 'change_phone', code },
      })
    ).json() as Json;
    const socket = await connectSocket(t.url, { token: other.accessToken });
    const ended = await expectSessionEnded(socket, async () => {
      const change = await t.app.inject({
        method: 'POST',
        url: '/v1/me/phone',
        headers: a.headers,
        payload: { phone: newPhone, verificationId, password: a.password },
      });
      expect(change.statusCode).toBe(204);
    });
    expect(ended).toEqual({ reason: 'session_ended' });
    socket.close();
    expect((await t.app.inject({ url: '/v1/me', headers: other.headers })).statusCode).toBe(401);
    const me = (await t.app.inject({ url: '/v1/me', headers: a.headers })).json() as Json;
    expect(me.phone).toBe(`+82-10-****-${newPhone.slice(-4)}`);
    const oldLogin = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { phone: a.phone, password: a.password },
    });
    expect(oldLogin.statusCode).toBe(401);
  });

  it('deleting the account ends every session and socket at once; sign-in offers a restore', async () => {
    const a = await signUpWithEmail(t);
    const other = await login(t, a.email, a.password);
    const socket = await connectSocket(t.url, { token: other.accessToken });
    const ended = nextEvent<{ reason: string }>(socket, 'auth:expired', 5_000);
    const noPassword = await t.app.inject({ method: 'DELETE', url: '/v1/me', headers: a.headers });
    expect(noPassword.statusCode).toBe(403);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: a.headers,
      payload: { password: a.password },
    });
    expect(del.statusCode).toBe(200);
    expect(await ended).toEqual({ reason: 'session_ended' });
    socket.close();
    expect((await t.app.inject({ url: '/v1/me', headers: a.headers })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/v1/me', headers: other.headers })).statusCode).toBe(401);
    expect((await t.app.inject({ url: `/v1/users/${a.userId}` })).statusCode).toBe(404);

    const signin = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect(signin.statusCode).toBe(403);
    const body = signin.json() as Json;
    expect(body.code).toBe('ACCOUNT_PENDING_DELETION');
    t.secrets.add(body.details.restoreToken);
    const restore = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/restore',
      payload: { restoreToken: body.details.restoreToken },
    });
    expect(restore.statusCode).toBe(200);
    const tokens = trackTokens(t, (restore.json() as Json).tokens);
    expect((await t.app.inject({ url: '/v1/me', headers: bearer(tokens.accessToken) })).statusCode).toBe(200);
    const again = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/restore',
      payload: { restoreToken: body.details.restoreToken },
    });
    expect(again.statusCode).toBe(401);
  });

  it('after 30 days the purge job erases personal data and frees the nickname', async () => {
    const a = await signUpWithEmail(t);
    await t.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: a.headers,
      payload: { bio: 'private bio' },
    });
    await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: a.headers,
      payload: { password: a.password },
    });
    await t.app.modules.accounts.account.purgeDue(t.infra.logger);
    let [row] = await queryRows<Json>(
      t.infra.database.db,
      sql`select purged_at from users where id = ${a.userId}`,
    );
    expect(row.purged_at).toBeNull();

    clock.advance(31 * 86_400_000);
    await t.infra.jobs.send(t.app.modules.accounts.purgeJob, {});
    await t.infra.jobs.runDue([t.app.modules.accounts.purgeJob.name]);
    [row] = await queryRows<Json>(
      t.infra.database.db,
      sql`select nickname, email, password_hash, bio, purged_at from users where id = ${a.userId}`,
    );
    expect(row).toMatchObject({ email: null, password_hash: null, bio: null });
    expect(row.purged_at).not.toBeNull();
    expect(row.nickname).toMatch(/^deleted-[0-9a-f]{12}$/);
    const signin = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect(signin.statusCode).toBe(401);
    const free = await t.app.inject({ url: `/v1/auth/nickname-availability?nickname=${a.nickname}` });
    expect((free.json() as Json).available).toBe(true);
  });

  it('refuses sign-in and restore once purgeAfter has passed, even before the purge job has run', async () => {
    const a = await signUpWithEmail(t);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: a.headers,
      payload: { password: a.password },
    });
    const purgeAfter = new Date((del.json() as Json).purgeAfter as string).getTime();
    // Five minutes before the end of the window: signing in still offers a restore ticket (valid 10 minutes).
    clock.advance(purgeAfter - clock.now().getTime() - 5 * 60_000);
    const offer = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect((offer.json() as Json).code).toBe('ACCOUNT_PENDING_DELETION');
    const { restoreToken } = (offer.json() as Json).details as { restoreToken: string };

    clock.advance(6 * 60_000);
    const restore = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/restore',
      payload: { restoreToken },
    });
    expect(restore.statusCode).toBe(401);
    const signin = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect(signin.statusCode).toBe(401);
    expect((signin.json() as Json).code).toBe('INVALID_CREDENTIALS');
    const [row] = await queryRows<Json>(
      t.infra.database.db,
      sql`select deleted_at, purged_at from users where id = ${a.userId}`,
    );
    expect(row.deleted_at).not.toBeNull();
    expect(row.purged_at).toBeNull();
  });

  it('the purge erases the number from SMS records and codes; old codes go a day after expiry', async () => {
    const a = await phoneAccount();
    const phoneHash = t.app.modules.accounts.verification.phoneHash({
      e164: e164(a.phone),
      countryCode: '82',
    });
    const count = async (query: ReturnType<typeof sql>) =>
      (await queryRows<{ n: number }>(t.infra.database.db, query))[0]!.n;
    expect(
      await count(sql`select count(*)::int as n from sms_messages where phone_hash = ${phoneHash}`),
    ).toBe(1);

    // A code for someone else, sent now: expired in 5 minutes, deleted by the daily job a day later.
    const stranger = uniquePhone(t);
    await sendPhoneCode(t, stranger);
    await t.app.modules.accounts.verification.idle();
    const strangerHash = t.app.modules.accounts.verification.phoneHash({
      e164: e164(stranger),
      countryCode: '82',
    });
    const codesOf = (hash: string) =>
      count(sql`select count(*)::int as n from verification_challenges where target_hash = ${hash}`);
    expect(await codesOf(strangerHash)).toBe(1);
    const smsRows = await count(sql`select count(*)::int as n from sms_messages`);

    await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: a.headers,
      payload: { password: a.password },
    });
    clock.advance(31 * 86_400_000);
    await t.infra.jobs.send(t.app.modules.accounts.purgeJob, {});
    await t.infra.jobs.runDue([t.app.modules.accounts.purgeJob.name]);

    expect(
      await count(sql`select count(*)::int as n from sms_messages where phone_hash = ${phoneHash}`),
    ).toBe(0);
    // The cost records stay, without the number.
    expect(await count(sql`select count(*)::int as n from sms_messages`)).toBe(smsRows);
    expect(await codesOf(phoneHash)).toBe(0);
    expect(await codesOf(strangerHash)).toBe(0);
    const [user] = await queryRows<Json>(
      t.infra.database.db,
      sql`select phone_hash, phone_enc, nickname from users where id = ${a.userId}`,
    );
    expect(user).toMatchObject({ phone_hash: null, phone_enc: null });
    expect(user.nickname).toMatch(/^deleted-[0-9a-f]{12}$/);
  });

  it('keeps a fresh code through the daily cleanup', async () => {
    const phone = uniquePhone(t);
    await sendPhoneCode(t, phone);
    await t.app.modules.accounts.account.cleanup();
    const hash = t.app.modules.accounts.verification.phoneHash({ e164: e164(phone), countryCode: '82' });
    const rows = await queryRows(
      t.infra.database.db,
      sql`select id from verification_challenges where target_hash = ${hash}`,
    );
    expect(rows).toHaveLength(1);
  });

  it('nobody may choose a nickname of a purged account (deleted-…)', async () => {
    const a = await signUpWithEmail(t);
    for (const nickname of ['deleted-0123456789ab', 'Deleted-me']) {
      const signup = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/signup/email',
        payload: { email: `x${Date.now()}@example.com`, password: 'a fine password', nickname },
      });
      expect(signup.statusCode, nickname).toBe(400);
      expect((signup.json() as Json).code).toBe('VALIDATION_FAILED');
      const patch = await t.app.inject({
        method: 'PATCH',
        url: '/v1/me',
        headers: a.headers,
        payload: { nickname },
      });
      expect(patch.statusCode, nickname).toBe(400);
      const available = await t.app.inject({
        url: `/v1/auth/nickname-availability?nickname=${nickname}`,
      });
      expect((available.json() as Json).available).toBe(false);
    }
  });
});
