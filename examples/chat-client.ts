/**
 * A small chat client that follows Moim's delivery contract (docs/realtime.md): it signs in, connects, keeps one
 * conversation in sync by sequence number across disconnects, and sends each line typed on stdin with a client
 * id it retries until acknowledged.
 *
 *   npx tsx examples/chat-client.ts --url http://localhost:3000 --email kim@example.com --password '…' \
 *     --conversation <conversation id>
 */
import { randomUUID } from 'node:crypto';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import type { MessageView } from '../src/modules/chat/chat.dto.js';
import type { SyncResult } from '../src/modules/chat/chat.service.js';
import type { AckResponse, ClientToServerEvents, ServerToClientEvents } from '../src/realtime/events.js';

type Message = MessageView;

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://localhost:3000' },
    email: { type: 'string' },
    password: { type: 'string' },
    conversation: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help || !values.email || !values.password || !values.conversation) {
  console.log('Usage: chat-client --url <server> --email <email> --password <password> --conversation <id>');
  process.exit(values.help ? 0 : 2);
}
const conversationId = values.conversation;

const login = await fetch(`${values.url}/v1/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email: values.email, password: values.password }),
});
if (!login.ok) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
const { tokens } = (await login.json()) as { tokens: { accessToken: string } };

// The event maps type every payload and acknowledgement (copy src/realtime/events.ts into a client project).
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(values.url, {
  transports: ['websocket'],
  auth: { token: tokens.accessToken },
});
let lastSeq = 0;
let syncing: Promise<void> | null = null;

function show(m: Message): void {
  const who = m.sender?.nickname ?? '*';
  console.log(`#${m.seq} ${who}: ${m.kind === 'system' ? `(${m.system?.type})` : (m.body ?? '(deleted)')}`);
}

function apply(m: Message): void {
  if (m.seq <= lastSeq) return; // already have it
  if (m.seq > lastSeq + 1) return void sync(); // missed some: catch up first
  show(m);
  lastSeq = m.seq;
}

/** Fetches everything after `lastSeq`, page by page. */
function sync(): Promise<void> {
  syncing ??= (async () => {
    try {
      for (;;) {
        const res = (await socket
          .timeout(5_000)
          .emitWithAck('chat:sync', { conversationId, afterSeq: lastSeq })) as AckResponse<SyncResult>;
        if (!res.ok) throw new Error(res.error.message);
        for (const m of res.data.messages) apply(m);
        if (!res.data.hasMore) break;
      }
    } catch (err) {
      console.error('sync interrupted, will retry on reconnect:', (err as Error).message);
    } finally {
      syncing = null;
    }
  })();
  return syncing;
}

/** Sends one message, retrying with the same client id until the server acknowledges it. */
async function send(body: string): Promise<void> {
  const clientId = randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      const res = (await socket
        .timeout(5_000)
        .emitWithAck('chat:send', { conversationId, clientId, body })) as AckResponse<unknown>;
      if (res.ok) return;
      console.error(`refused: ${res.error.code} ${res.error.message}`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
    }
  }
}

socket.on('connect', () => void sync());
socket.on('chat:message', (m: Message) => apply(m));
socket.on('auth:expired', () => {
  console.error('session ended; sign in again');
  process.exit(1);
});
socket.on('connect_error', (err: Error & { data?: { code: string } }) =>
  console.error('cannot connect:', err.data?.code ?? err.message),
);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim()) void send(line.trim());
});
