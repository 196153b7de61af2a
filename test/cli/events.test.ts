// `vmr events` against the real daemon: events of RPCs done by someone else show up as lines / JSON.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { repoRoot } from '../support/services.js';

let td: TestDaemon;
before(async () => { td = await startTestDaemon(); });
after(async () => { await td.stop(); });

function watch(args: string[]) {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/bin/vmr.js'), '--host', `unix://${td.socket}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 300; i++) {
      if (re.test(out)) return out;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in: ${out}`);
  };
  return { child, exited, waitFor, output: () => out };
}

describe('vmr events', () => {
  test('prints filtered events as they happen, and ends on Ctrl-C with 130', async () => {
    const w = watch(['events', '--since-now', '--type', 'context']);
    // The stream is open once the daemon has a subscriber; poll by creating until one shows up.
    for (let i = 0; i < 40 && !/ctx-/.test(w.output()); i++) {
      await td.client.call('ContextCreate', { context: { name: `ctx-${i}` } });
      await new Promise((r) => setTimeout(r, 100));
    }
    const text = await w.waitFor(/context create ctx-\d+/);
    assert.doesNotMatch(text, /^\S+ image /m, 'only the requested type');
    w.child.kill('SIGINT');
    assert.equal(await w.exited, 130);
  });

  test('--json prints one event object per line', async () => {
    const w = watch(['--json', 'events', '--since-now', '--name', 'json-ctx']);
    for (let i = 0; i < 40 && !w.output().includes('json-ctx'); i++) {
      await td.client.call('ContextCreate', { context: { name: 'json-ctx' } }).catch(() => undefined);
      await td.client.call('ContextUpdate', { name: 'json-ctx', context: { description: `d${i}` }, updateMask: ['description'] });
      await new Promise((r) => setTimeout(r, 100));
    }
    await w.waitFor(/json-ctx/);
    const first = JSON.parse(w.output().split('\n')[0]!);
    assert.equal(first.type, 'context');
    assert.equal(first.name, 'json-ctx');
    w.child.kill('SIGINT');
    await w.exited;
  });
});
