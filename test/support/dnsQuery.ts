// A minimal DNS client for tests: one A query over UDP to a given server (e.g. a libvirt network's
// dnsmasq on its gateway), so a test can check what a guest on that network would resolve.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

/** The IPv4 addresses `server` answers for `name` (empty: NXDOMAIN or no A record). */
export async function queryA(server: string, name: string, timeoutMs = 3000): Promise<string[]> {
  const id = randomBytes(2);
  const qname = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  // Header: id, flags RD, 1 question; question: name, type A (1), class IN (1).
  const msg = Buffer.concat([id, Buffer.from([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), qname, Buffer.from([0, 1, 0, 1])]);
  const sock = dgram.createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no DNS answer from ${server} for ${name} within ${timeoutMs} ms`)), timeoutMs);
      sock.on('message', (m) => {
        if (m.readUInt16BE(0) !== id.readUInt16BE(0)) return;
        clearTimeout(t);
        resolve(m);
      });
      sock.on('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      sock.send(msg, 53, server);
    });
    const answers = reply.readUInt16BE(6);
    let off = 12;
    off = skipName(reply, off) + 4;
    const out: string[] = [];
    for (let i = 0; i < answers; i++) {
      off = skipName(reply, off);
      const type = reply.readUInt16BE(off);
      const len = reply.readUInt16BE(off + 8);
      if (type === 1 && len === 4) out.push([...reply.subarray(off + 10, off + 14)].join('.'));
      off += 10 + len;
    }
    return out;
  } finally {
    sock.close();
  }
}

function skipName(b: Buffer, off: number): number {
  for (;;) {
    const len = b[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += len + 1;
  }
}
