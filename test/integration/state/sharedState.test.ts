// Several daemons on one Redis state store (Debian's redis-server on loopback): contexts created,
// switched or removed through one daemon are what the others see.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/index.js';
import { freePort } from '../../support/freePort.js';
import { requireService } from '../../support/services.js';
import { contextsAreShared } from './contextsAcross.js';

describe('shared state on Redis', () => {
  let redis: ChildProcess;
  let dir: string;
  let a: TestDaemon;
  let b: TestDaemon;
  before(async () => {
    await requireService('packages');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-redis-'));
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        a = await startTestDaemon({ config: { state: { url } } });
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    b = await startTestDaemon({ config: { state: { url } } });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    redis?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a context created on one daemon is listed, used and removable on the other', () => contextsAreShared(a, b));
});
