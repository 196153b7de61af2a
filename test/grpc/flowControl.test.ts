// The daemon's HTTP/2 sessions let a client send large frames and have MiBs in flight (flowControl.ts): an upload
// is not paced by 16 KiB frames and a WINDOW_UPDATE every 32 KiB. grpc-js has no option for this, so the daemon
// reaches its listeners through a private field; this suite is what notices when that stops working.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { MAX_FRAME, STREAM_WINDOW } from '../../src/core/grpc/flowControl.js';

describe('HTTP/2 flow control of the daemon', () => {
  let td: TestDaemon;
  before(async () => { td = await startTestDaemon(); });
  after(async () => { await td.stop(); });

  it('advertises large frames and a large stream window to every connection', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(td.socket) });
    try {
      // The daemon's first SETTINGS are HTTP/2's defaults; its own follow at once. Bounded: a daemon that never sends
      // them fails here instead of hanging the suite.
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no tuned SETTINGS; last: ${JSON.stringify(session.remoteSettings)}`)), 10_000);
        const check = (s: http2.Settings) => {
          if (s.maxFrameSize !== MAX_FRAME) return;
          clearTimeout(t);
          resolve(s);
        };
        session.on('remoteSettings', check);
        session.on('error', reject);
      });
      assert.equal(settings.maxFrameSize, MAX_FRAME);
      assert.equal(settings.initialWindowSize, STREAM_WINDOW);
    } finally {
      session.destroy();
    }
  });
});
