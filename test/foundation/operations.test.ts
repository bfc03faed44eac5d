import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('operations endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ defaultMetrics: true });
  });
  afterAll(() => t.close());

  it('GET /health/live answers ok', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /health/ready checks the database, Redis when configured, and the job queue', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.jobs.status).toBe('ok');
    expect(body.checks.redis.status).toBe(process.env.REDIS_URL ? 'ok' : 'disabled');
  });

  it('GET /metrics exposes request durations by route and status, event-loop lag, sockets and the DB pool', async () => {
    await t.app.inject({ method: 'GET', url: '/health/live' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(
      /http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*status="200"/,
    );
    expect(res.body).toContain('socketio_connected_sockets');
    expect(res.body).toMatch(/db_pool_connections\{state="total"\}/);
    expect(res.body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(res.body).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('serves the OpenAPI document and the interactive reference', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toBe('3.0.3');
    expect(Object.keys(spec.json().paths)).toContain('/health/ready');
    const docs = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('<html');
  });
});
