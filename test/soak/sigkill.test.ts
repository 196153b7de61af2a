// The daemon process killed with SIGKILL in the middle of a stream of ContextCreate calls, restarted on
// the same data dir and socket: the stale socket is replaced, and every context that got an OK exists.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VmClient } from '../../src/testing/client.js';

const BIN = path.resolve('dist/src/bin/vmregistryd.js');
const procs: ChildProcess[] = [];
const dirs: string[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function start(cfg: string, sock: string, data: string) {
  const p = spawn(process.execPath, [BIN, '--config', cfg, '--socket', sock, '--data-dir', data], {
    env: { ...process.env, VMR_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  let out = '';
  p.stdout!.on('data', (b) => { out += b; });
  p.stderr!.on('data', (b) => { out += b; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('exit', (code, signal) => r({ code, signal })));
  return { p, exited, output: () => out };
}

async function waitFor(fn: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SIGKILL during ContextCreate', () => {
  it('after each of three kills the restarted daemon has every acknowledged context and stays consistent', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-kill-'));
    dirs.push(dir);
    await chmod(dir, 0o755);
    const cfg = path.join(dir, 'config.yaml');
    await writeFile(cfg, 'plugins: {}\n');
    const sock = path.join(dir, 'vmr.sock');
    const data = path.join(dir, 'data');
    const acked = new Set<string>();
    const attempted = new Set<string>();
    let seq = 0;

    for (let round = 0; round < 3; round++) {
      const d = start(cfg, sock, data);
      await waitFor(() => d.output().includes('vmregistryd listening'), `daemon start (round ${round}): ${d.output()}`);
      const client = new VmClient(sock);
      // Everything acknowledged before this restart is still there.
      const names = new Set<string>((await client.call('ContextList')).contexts.map((c: { name: string }) => c.name));
      for (const n of acked) assert.ok(names.has(n), `context ${n} got OK before a SIGKILL but is gone after restart ${round}`);
      for (const n of names) assert.ok(n === 'default' || attempted.has(n), `context ${n} appeared from nowhere`);
      // Four writers; the kill lands at a point that varies with the round while calls are in flight.
      let stop = false;
      let cut = 0;
      const writers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const name = `k${seq++}`;
          attempted.add(name);
          try {
            await client.call('ContextCreate', { context: { name, description: `round ${round}` } }, { deadlineMs: 5000 });
            acked.add(name);
          } catch (err) {
            const code = (err as { code?: number }).code;
            // 14 UNAVAILABLE / 1 CANCELLED / 4 DEADLINE_EXCEEDED: the daemon died with the call in flight.
            assert.ok([1, 4, 14, 13].includes(code!), `unexpected failure ${code}: ${(err as Error).message}`);
            cut += 1;
            stop = true;
          }
        }
      });
      const before = acked.size;
      await waitFor(() => acked.size >= before + 20 + round * 15, 'some acknowledged creates');
      d.p.kill('SIGKILL');
      assert.equal((await d.exited).signal, 'SIGKILL');
      stop = true;
      await Promise.all(writers);
      assert.ok(cut >= 1, 'the kill cut calls in flight');
      client.close();
      assert.ok((await lstat(sock)).isSocket(), 'the killed daemon left its socket behind');
    }

    // Final restart: the stale socket is replaced, state is consistent and writable.
    const d = start(cfg, sock, data);
    await waitFor(() => d.output().includes('vmregistryd listening'), `final start: ${d.output()}`);
    const client = new VmClient(sock);
    try {
      const list = (await client.call('ContextList')).contexts as Array<{ name: string; description: string }>;
      const names = new Set(list.map((c) => c.name));
      for (const n of acked) assert.ok(names.has(n), `acknowledged context ${n} missing`);
      for (const c of list) if (c.name !== 'default') assert.match(c.description, /^round \d$/, `context ${c.name} is intact`);
      // Unacknowledged names are either fully there or fully absent: creating them again agrees with the list.
      for (const n of [...attempted].filter((x) => !acked.has(x))) {
        const again = await client.call('ContextCreate', { context: { name: n } }).then(() => 'created', (e: { code: number }) => e.code);
        assert.equal(again, names.has(n) ? 6 : 'created', `context ${n}: list says ${names.has(n) ? 'present' : 'absent'}`);
      }
      assert.ok(acked.size >= 3 * 20, `acknowledged ${acked.size}`);
      await client.call('ContextRemove', { name: [...acked][0] });
    } finally {
      client.close();
      d.p.kill('SIGTERM');
      assert.equal((await d.exited).code, 0);
    }
  });
});
