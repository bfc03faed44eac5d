import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { codesIn, issueSecret } from '../helpers/secrets.js';

/**
 * A local stand-in for Naver Cloud SENS's send endpoint (POST /sms/v2/services/{serviceId}/messages), strict
 * where SENS is strict (signature, clock skew, registered sender, body shape) and stricter where SENS silently
 * truncates (over-long content, a subject on an SMS), so client bugs fail the test instead of a real send.
 * It checks the signature with its own HMAC code, not the adapter's, so a signing bug cannot hide.
 *
 *   const sens = await startFakeSens();
 *   const config = loadConfig({ ...baseEnv, ...sens.env });   // SMS_PROVIDER=sens against the fake
 *   …
 *   const msg = await sens.waitForMessage({ to: '01012345678' });
 *   await sens.close();
 */

export interface FakeSensMessage {
  type: 'SMS' | 'LMS';
  /** As SENS receives it: 01012345678 for Korea, the national significant number elsewhere. */
  to: string;
  countryCode: string;
  /** Rebuilt from `countryCode` and `to`, to match what callers pass to the SmsSender port. */
  e164: string;
  from: string;
  contentType: 'COMM' | 'AD';
  content: string;
  subject: string | undefined;
  requestId: string;
  at: Date;
}

export interface FakeSensRejection {
  status: number;
  reason: string;
  at: Date;
}

export interface FakeSensOptions {
  serviceId?: string;
  accessKey?: string;
  secretKey?: string;
  /** The registered calling number; any other `from` is refused like an unregistered one. */
  from?: string;
  /** The fake's clock, in ms since the epoch, for the 5-minute timestamp check. */
  now?: () => number;
}

export interface FakeSens {
  /** Base URL, for SENS_BASE_URL. */
  readonly url: string;
  readonly serviceId: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly from: string;
  /** Environment variables that point a Moim config at this fake. */
  readonly env: Record<string, string>;
  /** Accepted messages, oldest first (one per recipient). */
  readonly messages: readonly FakeSensMessage[];
  /** Requests answered with an error, oldest first. */
  readonly rejections: readonly FakeSensRejection[];
  /** The next `times` valid requests are answered with `status` (e.g. 500, 429) and recorded as not sent. */
  failNext(status: number, times?: number): void;
  /** Resolves with the first accepted message matching the filter, waiting for it if needed. */
  waitForMessage(filter?: { to?: string; e164?: string }, timeoutMs?: number): Promise<FakeSensMessage>;
  clear(): void;
  close(): Promise<void>;
}

const MAX_SKEW_MS = 5 * 60_000;
const MAX_BODY_BYTES = 1024 * 1024;

export async function startFakeSens(options: FakeSensOptions = {}): Promise<FakeSens> {
  const serviceId = options.serviceId ?? 'ncp:sms:kr:000000000000:moim-test';
  const accessKey = options.accessKey ?? 'FAKEACCESSKEY0000000';
  const secretKey = options.secretKey ?? 'FAKESECRETKEY00000000000000000000000000';
  const registeredFrom = options.from ?? '0212345678';
  const now = options.now ?? (() => Date.now());
  const sendPath = `/sms/v2/services/${serviceId}/messages`;
  issueSecret(accessKey, secretKey);

  const messages: FakeSensMessage[] = [];
  const rejections: FakeSensRejection[] = [];
  const failures: number[] = [];
  const waiters = new Set<() => void>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const answer = (status: number, body: unknown, reason?: string) => {
        if (reason !== undefined) rejections.push({ status, reason, at: new Date(now()) });
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      };
      const gatewayError = (status: number, errorCode: string, message: string, details: string) =>
        answer(status, { error: { errorCode, message, details } }, details);
      const badRequest = (details: string) =>
        answer(
          400,
          { status: 400, statusName: 'fail', error: { errorCode: '400', message: details } },
          details,
        );

      const path = req.url ?? '';
      if (path !== sendPath && !decodedEquals(path, sendPath)) {
        return gatewayError(404, '300', 'Not Found Exception', `no such service or path: ${path}`);
      }
      if (req.method !== 'POST') return gatewayError(405, '100', 'Method Not Allowed', 'only POST');

      const auth = checkAuth(req, path);
      if (auth) return gatewayError(401, '200', 'Authentication Failed', auth);

      if (size > MAX_BODY_BYTES) return badRequest('body too large');
      const contentType = req.headers['content-type'] ?? '';
      if (!/^application\/json\b/i.test(contentType))
        return badRequest('content-type must be application/json');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return badRequest('body is not JSON');
      }
      const parsed = validateBody(body, registeredFrom);
      if (typeof parsed === 'string') return badRequest(parsed);

      const failure = failures.shift();
      if (failure !== undefined) {
        return answer(
          failure,
          {
            status: failure,
            statusName: 'fail',
            error: { errorCode: String(failure), message: 'forced failure' },
          },
          `failNext(${failure})`,
        );
      }

      const requestId = `RSSA-${randomUUID()}`;
      const at = new Date(now());
      for (const m of parsed.messages) {
        // What the phone would show: its code must never reach the app's logs.
        issueSecret(...codesIn(m.content ?? parsed.content));
        const countryCode = parsed.countryCode;
        messages.push({
          type: parsed.type,
          to: m.to,
          countryCode,
          e164: countryCode === '82' ? `+82${m.to.slice(1)}` : `+${countryCode}${m.to}`,
          from: parsed.from,
          contentType: parsed.contentType,
          content: m.content ?? parsed.content,
          subject: parsed.type === 'LMS' ? (m.subject ?? parsed.subject) : undefined,
          requestId,
          at,
        });
      }
      for (const wake of waiters) wake();
      answer(202, {
        requestId,
        requestTime: at.toISOString().replace('Z', ''),
        statusCode: '202',
        statusName: 'success',
      });
    });
  });

  function checkAuth(req: http.IncomingMessage, path: string): string | null {
    const timestamp = header(req, 'x-ncp-apigw-timestamp');
    const key = header(req, 'x-ncp-iam-access-key');
    const signature = header(req, 'x-ncp-apigw-signature-v2');
    if (!timestamp || !key || !signature) return 'missing authentication headers';
    if (!/^\d{13}$/.test(timestamp)) return 'timestamp must be milliseconds since the epoch';
    if (Math.abs(now() - Number(timestamp)) > MAX_SKEW_MS) return 'timestamp is more than 5 minutes off';
    if (key !== accessKey) return 'unknown access key';
    // Written out independently of the adapter's sensSignature, per the Ncloud guide.
    const expected = createHmac('sha256', Buffer.from(secretKey, 'utf8'))
      .update(Buffer.from(['POST', ' ', path, '\n', timestamp, '\n', accessKey].join(''), 'utf8'))
      .digest();
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature mismatch';
    return null;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    serviceId,
    accessKey,
    secretKey,
    from: registeredFrom,
    env: {
      SMS_PROVIDER: 'sens',
      SENS_BASE_URL: url,
      SENS_SERVICE_ID: serviceId,
      SENS_ACCESS_KEY: accessKey,
      SENS_SECRET_KEY: secretKey,
      SENS_FROM: registeredFrom,
    },
    messages,
    rejections,
    failNext(status, times = 1) {
      for (let i = 0; i < times; i++) failures.push(status);
    },
    async waitForMessage(filter = {}, timeoutMs = 5_000) {
      const find = () =>
        messages.find(
          (m) =>
            (filter.to === undefined || m.to === filter.to) &&
            (filter.e164 === undefined || m.e164 === filter.e164),
        );
      const found = find();
      if (found) return found;
      return new Promise<FakeSensMessage>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake SENS: no message ${JSON.stringify(filter)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const m = find();
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        waiters.add(check);
      });
    },
    clear() {
      messages.length = 0;
      rejections.length = 0;
      failures.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ValidBody {
  type: 'SMS' | 'LMS';
  contentType: 'COMM' | 'AD';
  countryCode: string;
  from: string;
  content: string;
  subject: string | undefined;
  messages: { to: string; content?: string; subject?: string }[];
}

/** The body rules of https://api.ncloud-docs.com/docs/sens-sms-send, for the SMS and LMS types we use. */
function validateBody(body: unknown, registeredFrom: string): ValidBody | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be an object';
  const b = body as Record<string, unknown>;
  if (b.type !== 'SMS' && b.type !== 'LMS') return 'type must be SMS or LMS';
  const contentType = b.contentType ?? 'COMM';
  if (contentType !== 'COMM' && contentType !== 'AD') return 'contentType must be COMM or AD';
  const countryCode = b.countryCode ?? '82';
  if (typeof countryCode !== 'string' || !/^\d{1,3}$/.test(countryCode)) return 'countryCode must be digits';
  if (typeof b.from !== 'string' || !/^\d+$/.test(b.from)) return 'from must be digits only';
  if (b.from !== registeredFrom) return 'from is not a registered calling number';
  const maxContent = b.type === 'SMS' ? 90 : 2000;
  if (typeof b.content !== 'string' || b.content.length === 0) return 'content is required';
  if (eucKrBytes(b.content) > maxContent) return `content over ${maxContent} bytes for ${b.type}`;
  if (b.subject !== undefined) {
    if (b.type !== 'LMS') return 'subject is only for LMS';
    if (typeof b.subject !== 'string' || eucKrBytes(b.subject) > 40)
      return 'subject must be at most 40 bytes';
  }
  if (!Array.isArray(b.messages) || b.messages.length < 1 || b.messages.length > 100) {
    return 'messages must have 1 to 100 entries';
  }
  const out: ValidBody['messages'] = [];
  for (const raw of b.messages as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return 'each message must be an object';
    const m = raw as Record<string, unknown>;
    if (typeof m.to !== 'string' || !/^\d+$/.test(m.to)) return 'messages[].to must be digits only';
    if (countryCode === '82' && !/^0\d{8,10}$/.test(m.to))
      return 'Korean numbers go in national format (010…)';
    if (m.content !== undefined && typeof m.content !== 'string')
      return 'messages[].content must be a string';
    if (m.subject !== undefined && (b.type !== 'LMS' || typeof m.subject !== 'string')) {
      return 'messages[].subject is only for LMS';
    }
    out.push({
      to: m.to,
      ...(typeof m.content === 'string' ? { content: m.content } : {}),
      ...(typeof m.subject === 'string' ? { subject: m.subject } : {}),
    });
  }
  return {
    type: b.type,
    contentType,
    countryCode,
    from: b.from,
    content: b.content,
    subject: typeof b.subject === 'string' ? b.subject : undefined,
    messages: out,
  };
}

// Counted here rather than imported, so the fake does not share the adapter's idea of a byte.
function eucKrBytes(text: string): number {
  let n = 0;
  for (const ch of text) n += ch.codePointAt(0)! <= 0x7f ? 1 : 2;
  return n;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decodedEquals(path: string, expected: string): boolean {
  try {
    return decodeURIComponent(path) === expected;
  } catch {
    return false;
  }
}
