import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll } from 'vitest';
import type { AckResponse } from '../../src/realtime/events.js';
import type { SignedUp } from './accounts.js';
import { buildTestApp, type TestApp, type TestAppOptions } from './app.js';

export type TestSocket = Socket;

/** A real Socket.IO client over websocket, connected (or rejected) before it is returned. */
export async function connectSocket(
  url: string,
  opts: { token?: string; timeoutMs?: number } = {},
): Promise<TestSocket> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: opts.token ? { token: opts.token } : {},
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket connect timeout')), opts.timeoutMs ?? 5_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
  return socket;
}

/** Emits an event and waits for its acknowledgement. */
export function emitAck<T = unknown>(
  socket: TestSocket,
  event: string,
  payload?: unknown,
  timeoutMs = 5_000,
) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<AckResponse<T>>;
}

/** Resolves with the next `event` the socket receives, or rejects after `timeoutMs`. */
export function nextEvent<T = unknown>(socket: TestSocket, event: string, timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, onEvent);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, onEvent);
  });
}

/**
 * Resolves once the server has told the socket its session ended (`auth:expired`) and closed it; rejects if that
 * takes `withinMs` or more after `action` started.
 */
export async function expectSessionEnded(
  socket: TestSocket,
  action: () => Promise<unknown>,
  withinMs = 5_000,
): Promise<{ reason: string }> {
  const expired = nextEvent<{ reason: string }>(socket, 'auth:expired', withinMs);
  const gone = new Promise<number>((resolve) => socket.once('disconnect', () => resolve(Date.now())));
  const started = Date.now();
  await action();
  const event = await expired;
  const elapsed = (await gone) - started;
  if (elapsed >= withinMs) throw new Error(`socket disconnected after ${elapsed} ms`);
  return event;
}

/**
 * A listening test app for a socket test file, built before its tests and closed after them with every socket
 * its `connect` opened. Read `suite.t` inside hooks and tests (it is set in `beforeAll`).
 */
export interface SocketTestApp {
  t: TestApp;
  connect: (who: SignedUp, app?: TestApp) => Promise<TestSocket>;
}

export function socketTestApp(opts: TestAppOptions = {}): SocketTestApp {
  const sockets: TestSocket[] = [];
  const suite: SocketTestApp = {
    t: undefined as unknown as TestApp,
    connect: async (who: SignedUp, app: TestApp = suite.t) => {
      const s = await connectSocket(app.url, { token: who.accessToken });
      sockets.push(s);
      return s;
    },
  };
  beforeAll(async () => {
    suite.t = await buildTestApp({ listen: true, ...opts });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await suite.t?.close();
  });
  return suite;
}
