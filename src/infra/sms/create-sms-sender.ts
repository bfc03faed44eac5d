import type { Config } from '../../config.js';
import type { Clock } from '../clock.js';
import type { DevOutbox } from '../dev-outbox.js';
import type { Logger } from '../logger.js';
import { LogSmsSender } from './log-sms.js';
import { SensSmsSender } from './sens-sms.js';
import type { SmsSender } from './sms.js';

/** Picks the SMS adapter named by SMS_PROVIDER. */
export function createSmsSender(
  config: Pick<Config, 'sms'>,
  logger: Logger,
  devOutbox: DevOutbox,
  deps: { clock?: Clock; fetch?: typeof fetch } = {},
): SmsSender {
  switch (config.sms.provider) {
    case 'log':
      return new LogSmsSender({ logger, outbox: devOutbox });
    case 'sens':
      return new SensSmsSender(config.sms.sens, deps);
  }
}
