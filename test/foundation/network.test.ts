import net from 'node:net';
import { describe, expect, it } from 'vitest';

/** Tests never leave the machine (test/setup.ts): a forgotten real provider URL fails at once, not flakily. */
describe('outgoing network in tests', () => {
  it('refuses connections to anything but loopback', async () => {
    expect(() => net.connect(443, '203.0.113.10')).toThrow(/blocked in tests/);
    await expect(fetch('https://kauth.kakao.com/oauth/token')).rejects.toThrow();
  });

  it('still allows loopback', async () => {
    const server = net.createServer((s) => s.end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as net.AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    expect(reply).toBe('hi');
    server.close();
  });
});
