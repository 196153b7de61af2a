import net from 'node:net';
import { leaseToken } from './unique.js';

function listenZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A loopback port that was free a moment ago and that no other live test process has been handed: between
 * this call and the caller's bind the kernel may give the same port to another suite's `listen(0)`, so each
 * port is also leased across processes (released when this process exits).
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await listenZero();
    if (leaseToken('ports', String(port))) return port;
  }
  throw new Error('freePort: no unleased loopback port after 50 tries');
}
