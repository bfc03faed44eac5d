import net from 'node:net';

/**
 * Tests never leave the machine: any outgoing connection to a host other than loopback fails at once, so a
 * forgotten real provider URL shows up as a failing test instead of a flaky one.
 */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

// eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply below
const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function patchedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0];
  let host: string | undefined;
  let isPath = false;
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
    const opts = first as { host?: string; path?: string };
    host = opts.host;
    isPath = typeof opts.path === 'string';
  } else if (Array.isArray(first)) {
    const opts = first[0] as { host?: string; path?: string } | undefined;
    host = opts?.host;
    isPath = typeof opts?.path === 'string';
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    isPath = true;
  } else if (typeof args[1] === 'string') {
    host = args[1];
  }
  if (!isPath && host !== undefined && !LOOPBACK.has(host)) {
    throw new Error(`Network access to ${host} is blocked in tests`);
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
};
