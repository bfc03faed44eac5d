import { randomBytes } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import { randomToken, safeEqual, sha256, type DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { UnitOfWork } from '../../infra/outbox/outbox.js';
import {
  OAuthError,
  type OAuthProfile,
  type OAuthProvider,
  type OAuthProviderName,
} from '../../infra/oauth/oauth.js';
import {
  codeChallengeS256,
  generateCodeVerifier,
  generateNonce,
  generateState,
} from '../../infra/oauth/pkce.js';
import type { Actor, RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import { accountGone } from './account.service.js';
import { uniqueViolation, type AccountsRepository, type UserRow } from './accounts.repository.js';
import type { AuthResult, AuthService } from './auth.service.js';
import { isReservedNickname } from './nicknames.js';

/** How long a started sign-in may take at the provider; also the life of the browser-binding cookie. */
export const STATE_TTL_MS = 10 * 60_000;
const EXCHANGE_TTL_MS = 60_000;

interface StateData {
  provider: OAuthProviderName;
  intent: 'login' | 'link';
  appRedirectUri: string;
  /** SHA-256 of the browser key: the cookie set on the browser that started the flow. */
  browserKeyHash: string;
  codeVerifierEnc: string | null;
  nonce: string | null;
  appCodeChallenge: string | null;
}

export interface AuthorizationStart {
  /** Where to send the browser. */
  url: string;
  /** The secret to keep in the browser (an httpOnly cookie) and present at the callback. */
  browserKey: string;
}

interface ExchangeData {
  provider: OAuthProviderName;
  isNewUser: boolean;
  appCodeChallenge: string | null;
}

/**
 * Social login with Kakao, Naver and Google. The server runs the authorization-code flow with a single-use
 * `state` (10 minutes) that names the provider (so a code arriving at another provider's callback is refused),
 * PKCE and nonce where the provider has them. The state is bound to the browser that started the flow: starting
 * sets a random key in an httpOnly cookie scoped to the callback, the state ticket keeps its hash, and the
 * callback refuses a browser without it. So a callback URL (or a started link flow) handed to someone else
 * cannot be finished in their browser: no login CSRF, and nobody's provider account gets linked to another
 * person's Moim account. Identities are keyed on (provider, provider user id) and never matched by email. The
 * browser returns to the app with a one-time code (60 s) that the app exchanges for tokens, optionally bound to
 * the app's own PKCE challenge, so tokens never travel in a URL.
 */
export class OAuthService {
  constructor(
    private readonly deps: {
      repo: AccountsRepository;
      db: Executor;
      clock: Clock;
      protector: DataProtector;
      unitOfWork: UnitOfWork;
      auth: AuthService;
      providers: ReadonlyMap<OAuthProviderName, OAuthProvider>;
      publicUrl: string;
      redirectAllowlist: readonly string[];
    },
  ) {}

  enabledProviders(): { name: OAuthProviderName; nativeToken: boolean }[] {
    return [...this.deps.providers.values()].map((p) => ({
      name: p.name,
      nativeToken: p.supportsNativeToken,
    }));
  }

  private provider(name: string): OAuthProvider {
    const provider = this.deps.providers.get(name as OAuthProviderName);
    if (!provider) throw new AppError('OAUTH_PROVIDER_DISABLED', `Sign-in with ${name} is not enabled.`);
    return provider;
  }

  callbackUrl(provider: OAuthProviderName): string {
    return `${new URL(this.deps.publicUrl).origin}${this.callbackPath(provider)}`;
  }

  /** The path the browser-binding cookie is scoped to: it is sent nowhere else. */
  callbackPath(provider: string): string {
    return `${new URL(this.deps.publicUrl).pathname.replace(/\/$/, '')}/v1/auth/oauth/${provider}/callback`;
  }

  /** The cookie is `Secure` when the public URL is https (not for plain-http development). */
  get secureCookies(): boolean {
    return this.deps.publicUrl.startsWith('https:');
  }

  /** Only the app's own URLs, listed in OAUTH_REDIRECT_ALLOWLIST, may receive the browser back. */
  private checkRedirect(uri: string): void {
    let parsed: URL;
    try {
      parsed = new URL(uri);
    } catch {
      throw new AppError('REDIRECT_NOT_ALLOWED', 'The redirect URI is not a URL.');
    }
    const allowed = this.deps.redirectAllowlist.some((prefix) => {
      if (!uri.startsWith(prefix)) return false;
      // A prefix must end at a path boundary: https://app.example.com must not admit https://app.example.com.evil.
      const rest = uri.slice(prefix.length);
      return prefix.endsWith('/') || rest === '' || /^[/?#]/.test(rest);
    });
    if (!allowed || parsed.username || parsed.password) {
      throw new AppError('REDIRECT_NOT_ALLOWED', 'This redirect URI is not on the allow-list.');
    }
  }

  /**
   * Starts a sign-in (or, for a signed-in actor, a link): returns the provider URL to send the browser to, and the
   * browser key the caller must set in that browser. For a link the key goes to whoever made this authenticated
   * call, so only their browser can finish it.
   */
  async authorize(
    providerName: string,
    input: { intent: 'login' | 'link'; redirectUri: string; codeChallenge?: string },
    actor: Actor | null,
  ): Promise<AuthorizationStart> {
    const provider = this.provider(providerName);
    this.checkRedirect(input.redirectUri);
    if (input.intent === 'link' && !actor) throw new AppError('UNAUTHENTICATED');
    const state = generateState();
    const browserKey = randomToken();
    const codeVerifier = provider.supportsPkce ? generateCodeVerifier() : null;
    const nonce = provider.supportsNonce ? generateNonce() : null;
    const data: StateData = {
      provider: provider.name,
      intent: input.intent,
      appRedirectUri: input.redirectUri,
      browserKeyHash: sha256(browserKey),
      codeVerifierEnc: codeVerifier ? this.deps.protector.encrypt('oauth-verifier', codeVerifier) : null,
      nonce,
      appCodeChallenge: input.codeChallenge ?? null,
    };
    await this.deps.repo.insertTicket(this.deps.db, {
      idHash: sha256(state),
      kind: 'oauth_state',
      userId: input.intent === 'link' ? actor!.userId : null,
      data,
      expiresAt: new Date(this.deps.clock.now().getTime() + STATE_TTL_MS),
    });
    const url = await provider.authorizationUrl({
      state,
      redirectUri: this.callbackUrl(provider.name),
      codeVerifier,
      nonce,
    });
    return { url: url.toString(), browserKey };
  }

  /**
   * The provider sent the browser back. Returns where to send it next: the app's redirect URI with a one-time
   * `code` (or `error`). A missing, reused, expired or foreign `state`, or a browser that does not hold the key
   * of the browser that started the flow, has no trustworthy app URL, so it is an error answered here (and the
   * state is spent either way).
   */
  async callback(
    providerName: string,
    query: { code?: string; state?: string; error?: string },
    browserKey: string | undefined,
    meta: RequestMeta,
  ): Promise<string> {
    const provider = this.provider(providerName);
    const ticket = query.state
      ? await this.deps.repo.useTicket(
          this.deps.db,
          sha256(query.state),
          'oauth_state',
          this.deps.clock.now(),
        )
      : undefined;
    const data = ticket?.data as StateData | undefined;
    const refuse = (reason: 'state' | 'browser') => {
      securityEvent(meta.log, 'auth.oauth.failure', {
        actor: reason === 'browser' ? (ticket?.userId ?? null) : meta.actorId,
        ip: meta.ip,
        provider: provider.name,
        reason,
      });
      return new AppError('OAUTH_STATE_INVALID', 'This sign-in link is invalid or has expired. Start again.');
    };
    if (!ticket || !data || data.provider !== provider.name) throw refuse('state');
    if (!browserKey || !data.browserKeyHash || !safeEqual(sha256(browserKey), data.browserKeyHash)) {
      throw refuse('browser');
    }
    const back = (params: Record<string, string>) => {
      const url = new URL(data.appRedirectUri);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return url.toString();
    };
    if (query.error || !query.code)
      return back({ error: query.error === 'access_denied' ? 'access_denied' : 'oauth_failed' });

    let profile: OAuthProfile;
    try {
      profile = await provider.exchangeCode({
        code: query.code,
        state: query.state!,
        redirectUri: this.callbackUrl(provider.name),
        codeVerifier: data.codeVerifierEnc
          ? this.deps.protector.decrypt('oauth-verifier', data.codeVerifierEnc)
          : null,
        nonce: data.nonce,
      });
    } catch (err) {
      const reason = err instanceof OAuthError ? err.reason : 'provider_error';
      securityEvent(meta.log, 'auth.oauth.failure', {
        actor: ticket.userId,
        ip: meta.ip,
        provider: provider.name,
        reason,
      });
      if (!(err instanceof OAuthError)) meta.log.error({ err }, 'OAuth provider call failed');
      return back({ error: 'oauth_failed' });
    }

    if (data.intent === 'link') {
      try {
        await this.link(ticket.userId!, profile, meta);
      } catch (err) {
        if (err instanceof AppError) return back({ error: err.code.toLowerCase() });
        throw err;
      }
      return back({ linked: provider.name });
    }

    const { user, isNewUser } = await this.findOrCreate(profile, meta);
    const exchange = randomToken();
    const exchangeData: ExchangeData = {
      provider: provider.name,
      isNewUser,
      appCodeChallenge: data.appCodeChallenge,
    };
    await this.deps.repo.insertTicket(this.deps.db, {
      idHash: sha256(exchange),
      kind: 'oauth_exchange',
      userId: user.id,
      data: exchangeData,
      expiresAt: new Date(this.deps.clock.now().getTime() + EXCHANGE_TTL_MS),
    });
    return back({ code: exchange });
  }

  /** The app trades the one-time code for tokens (and proves it started the flow, if it sent a challenge). */
  async exchange(
    input: { code: string; codeVerifier?: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    const ticket = await this.deps.repo.useTicket(
      this.deps.db,
      sha256(input.code),
      'oauth_exchange',
      this.deps.clock.now(),
    );
    const data = ticket?.data as ExchangeData | undefined;
    if (!ticket?.userId || !data)
      throw new AppError('UNAUTHENTICATED', 'The code is invalid or has expired.');
    if (data.appCodeChallenge) {
      const challenge = input.codeVerifier ? codeChallengeS256(input.codeVerifier) : '';
      if (!safeEqual(challenge, data.appCodeChallenge)) {
        securityEvent(meta.log, 'auth.oauth.failure', {
          actor: ticket.userId,
          ip: meta.ip,
          provider: data.provider,
          reason: 'app_code_verifier',
        });
        throw new AppError('UNAUTHENTICATED', 'The code verifier does not match.');
      }
    }
    const user = await this.deps.repo.findUserById(this.deps.db, ticket.userId);
    if (!user || accountGone(user, this.deps.clock.now()))
      throw new AppError('UNAUTHENTICATED', 'The code is invalid or has expired.');
    const result = await this.deps.auth.signIn(user, meta, data.provider, input.deviceName ?? null);
    return { ...result, isNewUser: data.isNewUser };
  }

  /** A native app signed in with the provider's SDK and posts the provider token; we verify it is ours. */
  async nativeLogin(
    providerName: string,
    input: { token: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    const provider = this.provider(providerName);
    if (!provider.supportsNativeToken) {
      throw new AppError('OAUTH_FAILED', `${provider.name} sign-in from apps uses the browser flow only.`);
    }
    let profile: OAuthProfile;
    try {
      profile = await provider.verifyNativeToken(input.token);
    } catch (err) {
      const reason = err instanceof OAuthError ? err.reason : 'provider_error';
      securityEvent(meta.log, 'auth.oauth.failure', {
        actor: meta.actorId,
        ip: meta.ip,
        provider: provider.name,
        reason,
        native: true,
      });
      if (!(err instanceof OAuthError)) meta.log.error({ err }, 'OAuth provider call failed');
      throw new AppError('OAUTH_FAILED', 'The provider token was not accepted.', { details: { reason } });
    }
    const { user, isNewUser } = await this.findOrCreate(profile, meta);
    const result = await this.deps.auth.signIn(user, meta, provider.name, input.deviceName ?? null);
    return { ...result, isNewUser };
  }

  /** The account of this identity, or a new one (marked for onboarding). Never matched by email. */
  private async findOrCreate(
    profile: OAuthProfile,
    meta: RequestMeta,
  ): Promise<{ user: UserRow; isNewUser: boolean }> {
    const { repo } = this.deps;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await repo.findIdentity(this.deps.db, profile.provider, profile.providerUserId);
      if (existing) {
        // A deleted account is returned too: signing in to it offers a restore (or is refused once it is gone).
        const user = await repo.findUserById(this.deps.db, existing.userId);
        if (user && !user.purgedAt) return { user, isNewUser: false };
      }
      try {
        const user = await this.deps.unitOfWork(async (ctx) => {
          const nickname = await this.uniqueNickname(ctx.tx, profile);
          const created = await repo.insertUser(ctx.tx, {
            nickname,
            avatarUrl: profile.avatarUrl,
            needsOnboarding: true,
          });
          await repo.insertIdentity(ctx.tx, {
            userId: created.id,
            provider: profile.provider,
            providerUserId: profile.providerUserId,
            email: profile.email,
          });
          await ctx.publish('user.registered', { userId: created.id, method: profile.provider }, created.id);
          return created;
        });
        securityEvent(meta.log, 'auth.signup', { actor: user.id, ip: meta.ip, method: profile.provider });
        return { user, isNewUser: true };
      } catch (err) {
        // Two first sign-ins of one person at once, or a nickname taken meanwhile: look again.
        if (uniqueViolation(err) === undefined) throw err;
      }
    }
    throw new AppError('CONFLICT', 'Could not create the account; try again.');
  }

  /** The provider's nickname, cut to fit and made unique with a numeric suffix. */
  private async uniqueNickname(tx: Executor, profile: OAuthProfile): Promise<string> {
    const cleaned = (profile.nickname ?? '')
      .normalize('NFC')
      .replace(/[^\p{L}\p{N}_.-]/gu, '')
      .slice(0, 14);
    // `deleted-…` is what purged accounts are called; a provider nickname may not pass for one.
    const base = cleaned.length >= 2 && !isReservedNickname(cleaned) ? cleaned : `${profile.provider}_user`;
    if (!(await this.deps.repo.isNicknameTaken(tx, base))) return base;
    for (let i = 0; i < 20; i++) {
      const candidate = `${base}${randomBytes(3).readUIntBE(0, 3) % 100_000}`.slice(0, 20);
      if (!(await this.deps.repo.isNicknameTaken(tx, candidate))) return candidate;
    }
    return `${base.slice(0, 8)}_${randomBytes(5).toString('hex')}`;
  }

  private async link(userId: string, profile: OAuthProfile, meta: RequestMeta): Promise<void> {
    const { repo } = this.deps;
    const existing = await repo.findIdentity(this.deps.db, profile.provider, profile.providerUserId);
    if (existing) {
      if (existing.userId === userId) return;
      throw new AppError(
        'IDENTITY_IN_USE',
        'This account of the provider is linked to another Moim account.',
      );
    }
    try {
      await repo.insertIdentity(this.deps.db, {
        userId,
        provider: profile.provider,
        providerUserId: profile.providerUserId,
        email: profile.email,
      });
    } catch (err) {
      if (uniqueViolation(err) !== undefined) {
        throw new AppError('IDENTITY_IN_USE', 'Another account of this provider is already linked.');
      }
      throw err;
    }
    securityEvent(meta.log, 'auth.identity.linked', {
      actor: userId,
      ip: meta.ip,
      provider: profile.provider,
    });
  }

  /** Unlinks a provider, unless it is the last way left to sign in. */
  async unlink(actor: Actor, providerName: string, meta: RequestMeta): Promise<void> {
    const { repo } = this.deps;
    await this.deps.unitOfWork(async ({ tx }) => {
      const user = await repo.findUserById(tx, actor.userId);
      const identities = await repo.listIdentities(tx, actor.userId);
      if (!user || !identities.some((i) => i.provider === providerName)) {
        throw new AppError('NOT_FOUND', 'This provider is not linked.');
      }
      const hasPassword = Boolean(user.passwordHash && (user.email || user.phoneHash));
      if (!hasPassword && identities.length <= 1) {
        throw new AppError(
          'LAST_SIGN_IN_METHOD',
          'Set a password or link another provider before unlinking this one.',
        );
      }
      await repo.deleteIdentity(tx, actor.userId, providerName);
    });
    securityEvent(meta.log, 'auth.identity.unlinked', {
      actor: actor.userId,
      ip: meta.ip,
      provider: providerName,
    });
  }
}
