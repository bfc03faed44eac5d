import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUpWithEmail } from '../helpers/accounts.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { connectSocket, emitAck, nextEvent, type TestSocket } from '../helpers/sockets.js';

describe('realtime gateway', () => {
  let t: TestApp;
  let socket: TestSocket;
  let token: string;
  beforeAll(async () => {
    t = await buildTestApp({ listen: true });
    token = (await signUpWithEmail(t)).accessToken;
    socket = await connectSocket(t.url, { token });
  });
  afterAll(async () => {
    socket.close();
    await t.close();
  });

  it('refuses a handshake without an access token', async () => {
    await expect(connectSocket(t.url)).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
  });

  it('answers a valid event through its acknowledgement', async () => {
    const res = await emitAck<{ nonce: string; serverTime: string }>(socket, 'system:ping', { nonce: 'n-1' });
    expect(res).toEqual({ ok: true, data: { nonce: 'n-1', serverTime: expect.any(String) } });
  });

  it('answers an invalid payload with an error ack listing the problem', async () => {
    for (const bad of [{ nonce: 42 }, { nonce: 'x'.repeat(65) }, 'string', null, [1, 2]]) {
      const res = await emitAck(socket, 'system:ping', bad);
      expect(res.ok, JSON.stringify(bad)).toBe(false);
      if (!res.ok) expect(res.error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('answers an unknown event with an error ack', async () => {
    const res = await emitAck(socket, 'no:such:event', {});
    expect(res).toEqual({
      ok: false,
      error: { code: 'BAD_REQUEST', message: 'Unknown event "no:such:event".' },
    });
  });

  it('rate-limits events per socket', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, () => emitAck(socket, 'system:ping', {})));
    const limited = results.filter((r) => !r.ok && r.error.code === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(30);
  });

  it('closes the connection of a client that sends a frame over 64 KB', async () => {
    const big = await connectSocket(t.url, { token });
    const closed = new Promise<string>((resolve) => big.once('disconnect', (reason) => resolve(reason)));
    big.emit('system:ping', { nonce: 'x'.repeat(70 * 1024) });
    expect(await closed).toMatch(/transport (close|error)/);
  });

  it('counts connected sockets in the metrics', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.body).toMatch(/socketio_connected_sockets [1-9]/);
  });

  it('tells clients to reconnect and disconnects them on shutdown', async () => {
    const other = await buildTestApp({ listen: true });
    const client = await connectSocket(other.url, { token: (await signUpWithEmail(other)).accessToken });
    const notice = nextEvent<{ reconnectInMs: number }>(client, 'system:shutdown');
    const disconnected = new Promise<string>((resolve) =>
      client.once('disconnect', (reason) => resolve(reason)),
    );
    const started = Date.now();
    await other.close();
    expect(await notice).toEqual({ reconnectInMs: 1000 });
    // A transport close, which clients answer by reconnecting (to another node), not "do not come back".
    expect(await disconnected).toBe('transport close');
    expect(Date.now() - started).toBeLessThan(5_000);
    client.close();
  });
});
