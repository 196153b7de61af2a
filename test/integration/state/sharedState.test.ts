// Several daemons on one Redis state store (Debian's redis-server on loopback): contexts created,
// switched or removed through one daemon are what the others see.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/index.js';
import { freePort } from '../../support/freePort.js';
import { requireService } from '../../support/services.js';

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

  it('a context created on one daemon is listed, used and removable on the other', async () => {
    await a.client.call('ContextCreate', { context: { name: 'shared', registryUrl: 'r.example:5000' } });
    const onB = await b.client.call('ContextList');
    assert.deepEqual(onB.contexts.map((c: any) => c.name), ['default', 'shared']);
    await assert.rejects(b.client.call('ContextCreate', { context: { name: 'shared' } }), (e: any) => e.code === status.ALREADY_EXISTS);
    await a.client.call('ContextUse', { name: 'shared' });
    // Each daemon caches the current context for up to a second.
    let cur = '';
    for (let i = 0; i < 40 && cur !== 'shared'; i++) {
      cur = (await b.client.call('ContextCurrent')).context.name;
      if (cur !== 'shared') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(cur, 'shared');
    await b.client.call('ContextUse', { name: 'default' });
    await b.client.call('ContextRemove', { name: 'shared' });
    assert.deepEqual((await a.client.call('ContextList')).contexts.map((c: any) => c.name), ['default']);
  });
});
