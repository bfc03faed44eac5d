import net from 'node:net';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { json } from '../helpers/http.js';

/**
 * The HTTP contract every route shares. A probe route is added to the real app (with its real error handler,
 * security headers and limits) so body handling can be shown independently of any domain module.
 */
describe('HTTP contract', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, env: { BODY_LIMIT_BYTES: '2048' }, extraRoutes: addProbeRoutes });
  });
  afterAll(() => t.close());

  function addProbeRoutes(app: TestApp['app']): void {
    app.post(
      '/probe',
      {
        schema: {
          body: Type.Object(
            {
              name: Type.String({ minLength: 2 }),
              age: Type.Integer({ minimum: 0 }),
              tags: Type.Optional(Type.Array(Type.String(), { maxItems: 3 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ name: Type.String(), age: Type.Integer() }) },
        },
      },
      async (request) => ({ ...(request.body as object), secret: 'never serialized' }),
    );
    app.get(
      '/probe/query',
      {
        schema: {
          querystring: Type.Object({ age: Type.Integer(), tags: Type.Array(Type.String()) }),
          response: { 200: Type.Object({ age: Type.Integer(), tags: Type.Array(Type.String()) }) },
        },
      },
      async (request) => request.query,
    );
    app.get('/probe/boom', async () => {
      throw new Error('select * from users where password = $1 -- /srv/moim/src/secret.ts');
    });
    app.get('/probe/conflict', async () => {
      throw new AppError('CONFLICT', 'Already there.', { details: { id: 7 } });
    });
  }

  const post = (body: string, contentType = 'application/json') =>
    fetch(`${t.url}/probe`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('text the database cannot store (a NUL byte) is a 400, not a 500', async () => {
    for (const url of [
      '/v1/events?q=%00',
      '/v1/events?q=abc%00def',
      '/v1/groups?q=%00',
      '/v1/events?q=%00&lat=37.5&lng=127&radiusKm=5',
    ]) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().code, url).toBe('VALIDATION_FAILED');
    }
  });

  it('unknown routes answer 404 JSON', async () => {
    const res = await fetch(`${t.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ code: 'ROUTE_NOT_FOUND', message: 'No route GET /v1/nothing-here.' });
  });

  it('a known path with the wrong method answers 405 with Allow', async () => {
    const res = await fetch(`${t.url}/health/live`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect((await json(res)).code).toBe('METHOD_NOT_ALLOWED');
  });

  it('malformed JSON answers 400 MALFORMED_JSON', async () => {
    const res = await post('{"name": "ab", ');
    expect(res.status).toBe(400);
    expect((await json(res)).code).toBe('MALFORMED_JSON');
  });

  it('an oversized body answers 413', async () => {
    const res = await post(JSON.stringify({ name: 'x'.repeat(5000), age: 1 }));
    expect(res.status).toBe(413);
    expect((await json(res)).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a wrong content type answers 415', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await post('name=ab&age=1', type);
      expect(res.status, type).toBe(415);
      expect((await json(res)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('validation errors list every bad field', async () => {
    const res = await post(JSON.stringify({ name: 'a', age: -1, tags: ['a', 'b', 'c', 'd'] }));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.code).toBe('VALIDATION_FAILED');
    const paths = body.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['/body/name', '/body/age', '/body/tags']));
    const missing = await post(JSON.stringify({ name: 'abc' }));
    expect((await json(missing)).details).toEqual([{ path: '/body/age', message: expect.any(String) }]);
  });

  it('JSON bodies are taken as typed: null is not 0 and "3" is not 3 (query strings still coerce)', async () => {
    for (const age of [null, '3', false]) {
      const res = await post(JSON.stringify({ name: 'abc', age }));
      expect(res.status, JSON.stringify(age)).toBe(400);
      expect((await json(res)).details).toEqual([{ path: '/body/age', message: expect.any(String) }]);
    }
    const query = await fetch(`${t.url}/probe/query?age=3&tags=a`);
    expect(await json(query)).toEqual({ age: 3, tags: ['a'] });
  });

  it('responses are serialized through their schema: unlisted fields never leak', async () => {
    const res = await post(JSON.stringify({ name: 'abc', age: 3, isAdmin: true }));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ name: 'abc', age: 3 });
  });

  it('prototype pollution attempts are refused', async () => {
    const res = await post('{"name":"abc","age":1,"__proto__":{"polluted":true}}');
    expect(res.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('unexpected errors answer a generic 500 with no stack, SQL or path, and are logged with the request id', async () => {
    const res = await fetch(`${t.url}/probe/boom`, { headers: { 'x-request-id': 'req-boom-1' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ code: 'INTERNAL', message: 'Something went wrong on our side.' });
    expect(text).not.toMatch(/select|password|\/srv|\.ts|at /i);
    expect(res.headers.get('x-request-id')).toBe('req-boom-1');
    const logged = t.logs.entries().find((e) => e.requestId === 'req-boom-1' && e.level === 'error');
    expect(logged).toBeDefined();
  });

  it('logs each unexpected error once, with its stack', async () => {
    await fetch(`${t.url}/probe/boom`, { headers: { 'x-request-id': 'req-boom-2' } });
    const errors = t.logs.entries().filter((e) => e.requestId === 'req-boom-2' && e.level === 'error');
    expect(errors).toHaveLength(1);
    expect((errors[0]!.err as { stack?: string }).stack).toContain('secret.ts');
  });

  it('refuses, at startup, an API route that does not declare its response', async () => {
    const other = await buildTestApp({ sameDeploymentAs: t });
    try {
      expect(() => other.app.get('/v1/undeclared', async () => ({ leaked: true }))).toThrow(
        /no 2xx or 3xx response schema/,
      );
    } finally {
      await other.close();
    }
  });

  it('domain errors use the status from the error table and keep their details', async () => {
    const res = await fetch(`${t.url}/probe/conflict`);
    expect(res.status).toBe(409);
    expect(await json(res)).toEqual({ code: 'CONFLICT', message: 'Already there.', details: { id: 7 } });
  });

  it('every response carries a request id, generated when the client sends none or a bad one', async () => {
    const a = await fetch(`${t.url}/health/live`);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const b = await fetch(`${t.url}/health/live`, {
      headers: { 'x-request-id': 'bad id with spaces and \\ "quotes"' },
    });
    expect(b.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const c = await fetch(`${t.url}/health/live`, { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(c.headers.get('x-request-id')).toBe('trace-abc.123');
    expect(t.logs.entries().some((e) => e.requestId === 'trace-abc.123')).toBe(true);
  });

  it('sets security headers and answers CORS only for allowed origins', async () => {
    const res = await fetch(`${t.url}/health/live`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('oversized headers answer 431 in the error shape', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(t.url);
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', (err) => (data ? resolve(data) : reject(err)));
    });
    expect(raw).toMatch(/^HTTP\/1.1 431/);
    expect(raw).toContain('"code":"HEADERS_TOO_LARGE"');
  });

  it('never logs authorization headers or cookies', async () => {
    await fetch(`${t.url}/health/live`, {
      headers: { authorization: 'Bearer super-secret-token-value', cookie: 'sid=cookie-secret-value' },
    });
    expect(t.logs.text()).not.toContain('super-secret-token-value');
    expect(t.logs.text()).not.toContain('cookie-secret-value');
  });
});

describe('CORS allow-list', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { CORS_ORIGINS: 'https://app.example.com' } });
  });
  afterAll(() => t.close());

  it('answers preflight for a configured origin', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/health/live',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
  });
});

describe('global rate limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After past the per-IP budget, but never limits health probes', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(res.json().code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const health = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(health.statusCode).toBe(200);
    expect(
      t.logs
        .entries()
        .some((e) => e.security === true && e.event === 'rate_limited' && e.rule === 'global-ip'),
    ).toBe(true);
  });
});
