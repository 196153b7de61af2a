// `vmr pull` on a real pseudo-terminal (tmux): the bar is drawn in place with rate and ETA, and the
// screen is clean when it ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startFakeDaemon, type FakeDaemon } from './support/fakeServer.js';
import { vmrBin } from './support/runVmr.js';
import { requireService } from '../support/services.js';
import { uniqueName } from '../support/unique.js';

const pexec = promisify(execFile);
const tmuxSocket = uniqueName('vmr-cli-test');
const tmux = (...args: string[]) => pexec('tmux', ['-L', tmuxSocket, ...args], { env: { ...process.env, TERM: 'xterm-256color' } });
const capture = async (session = 'vmr') => (await tmux('capture-pane', '-p', '-t', session)).stdout;

async function waitForPane(what: RegExp, label: string, session = 'vmr'): Promise<string> {
  let pane = '';
  for (let i = 0; i < 300; i++) {
    pane = await capture(session);
    if (what.test(pane)) return pane;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pane never showed ${label}; last capture:\n${pane}`);
}

let fake: FakeDaemon;
let release!: () => void;
const gate = new Promise<void>((r) => { release = r; });
const total = 2_000_000_000;

before(async () => {
  await requireService('packages'); // tmux comes from the apt list
  fake = await startFakeDaemon();
  fake.handlers.PullImageWithProgress = async (req: { reference: string }, call: grpc.ServerWritableStream<any, any>) => {
    const progress = (current: number) =>
      call.write({ progress: { phase: 'download', item: 'disk.raw', current: String(current), total: String(total), unit: 'bytes', message: '' } });
    for (let i = 0; i <= 8; i++) {
      progress(i * 100_000_000);
      await new Promise((r) => setTimeout(r, 150));
    }
    await gate;
    progress(total);
    call.write({ pull: { reference: req.reference, digest: 'sha256:' + 'c'.repeat(64), size: String(total), message: 'Downloaded', transferred: String(total) } });
  };
});

after(async () => {
  release();
  await tmux('kill-server').catch(() => undefined);
  await fake?.stop();
});

test('pull under a pseudo-terminal renders a live bar and ends cleanly', async () => {
  const cmd = `${process.execPath} ${vmrBin} --host ${fake.target} pull demo:1; echo EXIT=$?; sleep 120`;
  await tmux('new-session', '-d', '-s', 'vmr', '-x', '120', '-y', '30', cmd);

  const live = await waitForPane(/download\s+\[=+>\s+\]\s+40%\s+800MB\/2GB\s+[\d.]+[kMG]?B\/s\s+ETA \S+\s+disk\.raw/, 'the live bar at 40%');
  const liveLines = live.split('\n').filter((l) => l.includes('download'));
  assert.equal(liveLines.length, 1, `the bar is redrawn in place, not repeated:\n${live}`);
  assert.ok(liveLines[0].length < 120, 'the bar fits the 120-column terminal');

  release();
  const done = await waitForPane(/EXIT=\d+/, 'the exit status');
  const lines = done.split('\n').filter((l) => l.trim());
  assert.ok(lines.includes('EXIT=0'), done);
  const bars = lines.filter((l) => l.includes('download'));
  assert.equal(bars.length, 1, `one finished bar line:\n${done}`);
  assert.match(bars[0], /^download\s+\[=+\]\s+100%\s+2GB\/2GB\s+disk\.raw$/, 'finished bar: full, no rate or ETA left over');
  assert.deepEqual(lines.slice(lines.indexOf(bars[0]) + 1), [
    `Digest: sha256:${'c'.repeat(64)}`, 'Status: Downloaded (2GB, 2GB transferred)', 'demo:1', 'EXIT=0',
  ]);
  assert.ok(!/\x1b|\[2K/.test(done), 'no raw escape sequences on screen');
});

test('Ctrl-C on a terminal ends the bar\'s line, says cancelled, exits 130 and cancels on the daemon', async () => {
  fake.handlers.PullImageWithProgress = (_req: unknown, call: grpc.ServerWritableStream<any, any>) => new Promise<void>((resolve) => {
    call.write({ progress: { phase: 'download', item: 'disk.raw', current: '500', total: '1000', unit: 'bytes', message: '' } });
    call.on('cancelled', () => resolve());
  });
  const cmd = `${process.execPath} ${vmrBin} --host ${fake.target} pull slow:1; echo EXIT=$?; sleep 120`;
  await tmux('new-session', '-d', '-s', 'cancel', '-x', '120', '-y', '30', cmd);
  await waitForPane(/download\s+\[=+>\s+\]\s+50%/, 'the bar at 50%', 'cancel');
  await tmux('send-keys', '-t', 'cancel', 'C-c');
  const done = await waitForPane(/EXIT=\d+/, 'the exit status', 'cancel');
  const lines = done.split('\n').filter((l) => l.trim());
  // The terminal driver itself echoes ^C after the bar.
  assert.match(lines[0], /^download\s+\[=+>\s+\]\s+50%\s+500B\/1kB\s+disk\.raw(\^C)?$/);
  assert.deepEqual(lines.slice(1), ['cancelled', 'EXIT=130'], done);
  for (let i = 0; i < 50 && !fake.cancelled.includes('PullImageWithProgress'); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fake.cancelled.includes('PullImageWithProgress'), 'the daemon saw the call cancelled');
});

test('login -p prompts on the terminal without echoing the password', async () => {
  const cmd = `${process.execPath} ${vmrBin} --host ${fake.target} login -u alice -p; echo EXIT=$?; sleep 120`;
  await tmux('new-session', '-d', '-s', 'login', '-x', '120', '-y', '30', cmd);
  await waitForPane(/Password:/, 'the password prompt', 'login');
  await tmux('send-keys', '-t', 'login', 's3cret', 'Enter');
  const done = await waitForPane(/EXIT=\d+/, 'the exit status', 'login');
  assert.match(done, /Login Succeeded as alice/);
  assert.match(done, /EXIT=0/);
  assert.ok(!done.includes('s3cret'), `the password is not on screen:\n${done}`);
  assert.equal(fake.last('Login').password, 's3cret');
});
