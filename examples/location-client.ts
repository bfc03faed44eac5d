/**
 * A small live-location client (docs/realtime.md, "Live location"): it signs in, starts a "nearby" share at
 * 100 m precision for a while, sends its position once a second (a short random walk from the start point),
 * watches the people and open events within a radius, and stops the share on Ctrl-C.
 *
 *   npx tsx examples/location-client.ts --url http://localhost:3000 --email kim@example.com --password '…' \
 *     --lat 37.5665 --lng 126.978 --radius 1000 --minutes 30
 */
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import type { LocationFrame } from '../src/modules/locations/locations.dto.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../src/realtime/events.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://localhost:3000' },
    email: { type: 'string' },
    password: { type: 'string' },
    lat: { type: 'string', default: '37.5665' },
    lng: { type: 'string', default: '126.978' },
    radius: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '30' },
    help: { type: 'boolean' },
  },
});
if (values.help || !values.email || !values.password) {
  console.log(
    'Usage: location-client --url <server> --email <email> --password <password> [--lat --lng --radius --minutes]',
  );
  process.exit(values.help ? 0 : 2);
}

const login = await fetch(`${values.url}/v1/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email: values.email, password: values.password }),
});
if (!login.ok) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
const { tokens } = (await login.json()) as { tokens: { accessToken: string } };

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(values.url, {
  transports: ['websocket'],
  auth: { token: tokens.accessToken },
});
const here = { lat: Number(values.lat), lng: Number(values.lng) };

function show(frame: LocationFrame): void {
  console.log(`${frame.at}: ${frame.people.length} people, ${frame.events?.length ?? 0} open events`);
  for (const p of frame.people.slice(0, 5)) console.log(`  ${p.nickname} ${p.distanceM} m (${p.precision})`);
  for (const e of (frame.events ?? []).slice(0, 5)) console.log(`  [event] ${e.title} ${e.distanceM} m`);
}

// A frame is the whole picture: replace what you show. It comes only when something changed.
socket.on('location:frame', show);
socket.on('location:share_ended', ({ reason }) => console.log(`share ended: ${reason}`));

let shareId: string | undefined;
socket.on('connect', async () => {
  // After every (re)connection: subscriptions live on the socket, so make them again. Shares live on.
  if (!shareId) {
    const started = await socket.timeout(5_000).emitWithAck('location:share_start', {
      audience: { type: 'nearby' },
      precision: '100m',
      durationMinutes: Number(values.minutes),
    });
    if (!started.ok) throw new Error(started.error.message);
    shareId = started.data.share.id;
    console.log(`sharing until ${started.data.share.endsAt}`);
  }
  const sub = await socket.timeout(5_000).emitWithAck('location:subscribe', {
    layer: { type: 'nearby', ...here, radiusM: Number(values.radius) },
  });
  if (!sub.ok) throw new Error(sub.error.message);
  show(sub.data.frame);
});

const timer = setInterval(() => {
  if (!socket.connected) return;
  here.lat += (Math.random() - 0.5) * 0.0002;
  here.lng += (Math.random() - 0.5) * 0.0002;
  socket.emit('location:update', here, (res) => {
    if (!res.ok) console.error(`update refused: ${res.error.code}`);
  });
}, 1_000);

process.on('SIGINT', async () => {
  clearInterval(timer);
  if (shareId)
    await socket
      .timeout(5_000)
      .emitWithAck('location:share_stop', { shareId })
      .catch(() => null);
  socket.close();
  process.exit(0);
});
