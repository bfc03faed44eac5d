import { createHmac } from 'node:crypto';
import type { Config } from '../../config.js';
import { systemClock, type Clock } from '../clock.js';
import {
  eucKrByteLength,
  smsTypeFor,
  splitE164,
  SmsDeliveryError,
  type SmsMessage,
  type SmsResult,
  type SmsSender,
} from './sms.js';

/**
 * Naver Cloud SENS, SMS API v2 (https://api.ncloud-docs.com/docs/sens-sms-send). One request per message;
 * SENS accepts it with 202 and delivers asynchronously, so a 202 means "accepted", not "on the phone".
 */
export type SensConfig = Extract<Config['sms'], { provider: 'sens' }>['sens'];

export interface SensDeps {
  /** Defaults to the global fetch; tests may pass their own. */
  fetch?: typeof fetch;
  /** Source of the signed timestamp; SENS rejects requests more than 5 minutes off its own clock. */
  clock?: Clock;
  timeoutMs?: number;
}

/** SENS limits in EUC-KR bytes: longer content is cut off by SENS, so we refuse it instead. */
const LMS_MAX_BYTES = 2000;
const SUBJECT_MAX_BYTES = 40;
const DEFAULT_TIMEOUT_MS = 10_000;

export class SensSmsSender implements SmsSender {
  readonly name = 'sens';
  private readonly fetch: typeof fetch;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly path: string;
  private readonly url: string;

  constructor(
    private readonly config: SensConfig,
    deps: SensDeps = {},
  ) {
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.clock = deps.clock ?? systemClock;
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Service ids look like "ncp:sms:kr:123456789012:name"; SENS expects the colons as they are, and the
    // signature must cover exactly the path the gateway sees, so only characters that would change the URL's
    // structure are escaped.
    const serviceId = encodeURIComponent(config.serviceId).replace(/%3A/gi, ':');
    const url = new URL(`${config.baseUrl.replace(/\/+$/, '')}/sms/v2/services/${serviceId}/messages`);
    this.url = url.href;
    this.path = url.pathname + url.search;
  }

  async send(message: SmsMessage): Promise<SmsResult> {
    const type = smsTypeFor(message.text);
    const bytes = eucKrByteLength(message.text);
    if (bytes > LMS_MAX_BYTES) {
      throw new SmsDeliveryError(`SMS text is ${bytes} bytes, over the ${LMS_MAX_BYTES}-byte LMS limit`);
    }
    const recipient = sensRecipient(message.to);
    const body: SensSendBody = {
      type,
      contentType: 'COMM',
      countryCode: recipient.countryCode,
      from: this.config.from.replace(/\D/g, ''),
      content: message.text,
      ...(type === 'LMS' && message.subject
        ? { subject: truncateEucKr(message.subject, SUBJECT_MAX_BYTES) }
        : {}),
      messages: [{ to: recipient.to }],
    };

    const timestamp = String(this.clock.now().getTime());
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'x-ncp-apigw-timestamp': timestamp,
      'x-ncp-iam-access-key': this.config.accessKey,
      'x-ncp-apigw-signature-v2': sensSignature({
        method: 'POST',
        path: this.path,
        timestamp,
        accessKey: this.config.accessKey,
        secretKey: this.config.secretKey,
      }),
    };

    let res: Response;
    try {
      res = await this.fetch(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new SmsDeliveryError(`SENS request failed: ${describeNetworkError(err, this.timeoutMs)}`);
    }

    const payload = await readJson(res);
    if (res.status === 202 && isSuccess(payload)) {
      return { type, provider: this.name, providerMessageId: payload.requestId, bytes };
    }
    throw new SmsDeliveryError(
      `SENS rejected the message: HTTP ${res.status}${describeFailure(payload)}`,
      res.status,
    );
  }
}

export interface SensSendBody {
  type: 'SMS' | 'LMS';
  contentType: 'COMM';
  countryCode: string;
  from: string;
  content: string;
  subject?: string;
  messages: { to: string }[];
}

/**
 * The Ncloud API Gateway signature v2 (https://api.ncloud-docs.com/docs/common-ncpapi, "시그니처 생성"):
 * base64(HMAC-SHA256(secretKey, "{METHOD} {path with query}\n{timestamp}\n{accessKey}")).
 */
export function sensSignature(input: {
  method: string;
  path: string;
  timestamp: string;
  accessKey: string;
  secretKey: string;
}): string {
  const message = `${input.method} ${input.path}\n${input.timestamp}\n${input.accessKey}`;
  return createHmac('sha256', input.secretKey).update(message, 'utf8').digest('base64');
}

/**
 * SENS wants Korean numbers the way they are dialled at home (010…, with the trunk 0) and other numbers as
 * the national significant number with `countryCode` set.
 */
export function sensRecipient(e164: string): { countryCode: string; to: string } {
  const { countryCode, nationalNumber } = splitE164(e164);
  return { countryCode, to: countryCode === '82' ? `0${nationalNumber}` : nationalNumber };
}

function truncateEucKr(text: string, maxBytes: number): string {
  let out = '';
  for (const ch of text) {
    if (eucKrByteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

interface SensSuccess {
  requestId: string;
  statusCode: '202';
  statusName: 'success';
}

function isSuccess(payload: unknown): payload is SensSuccess {
  if (typeof payload !== 'object' || payload === null) return false;
  const p = payload as Record<string, unknown>;
  return typeof p.requestId === 'string' && p.statusCode === '202' && p.statusName === 'success';
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

/**
 * Keeps only short, code-like fields of a SENS error body. Anything longer, and any long digit run, is dropped
 * or masked so a provider echoing the request cannot put a phone number into our logs.
 */
function describeFailure(payload: unknown): string {
  if (typeof payload !== 'object' || payload === null) return '';
  const p = payload as Record<string, unknown>;
  const error = typeof p.error === 'object' && p.error !== null ? (p.error as Record<string, unknown>) : {};
  const parts = [p.statusCode, p.statusName, error.errorCode, error.message]
    .filter((v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 80)
    .map((v) => v.replace(/\d{4,}/g, (run) => '*'.repeat(run.length)));
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
    return err.name;
  }
  return 'unknown error';
}
