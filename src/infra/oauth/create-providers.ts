import type { Config } from '../../config.js';
import { GoogleProvider } from './google.js';
import { KakaoProvider } from './kakao.js';
import { NaverProvider } from './naver.js';
import type { OAuthProvider, OAuthProviderName } from './oauth.js';

/** The providers whose client id is configured; the others are simply not offered. */
export function createOAuthProviders(config: Pick<Config, 'oauth'>): Map<OAuthProviderName, OAuthProvider> {
  const providers = new Map<OAuthProviderName, OAuthProvider>();
  if (config.oauth.kakao) providers.set('kakao', new KakaoProvider(config.oauth.kakao));
  if (config.oauth.naver) providers.set('naver', new NaverProvider(config.oauth.naver));
  if (config.oauth.google) providers.set('google', new GoogleProvider(config.oauth.google));
  return providers;
}
