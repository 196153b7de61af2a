import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ProgressRenderer } from '../../src/cli/progress.js';

function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => { text += d.toString(); });
  return { s, text: () => text };
}

const ev = (current: number, total: number, phase = 'download', item = 'disk') =>
  ({ phase, item, current: String(current), total: String(total), unit: 'bytes', message: '' });

test('on a terminal the bar is redrawn in place and shows rate and ETA', () => {
  const out = sink();
  let now = 0;
  const r = new ProgressRenderer(out.s, { tty: true, columns: 100, now: () => now });
  r.update(ev(0, 100_000_000));
  now = 1000; r.update(ev(10_000_000, 100_000_000));
  now = 2000; r.update(ev(20_000_000, 100_000_000));
  const text = out.text();
  assert.match(text, /\r\x1b\[2Kdownload  \[=+> +\]   20%  20MB\/100MB  10MB\/s  ETA 8s  disk$/);
  assert.ok(!text.includes('\n'), 'no newline while the bar is live');
  r.update(ev(100_000_000, 100_000_000));
  r.done();
  const lines = out.text().split('\r\x1b[2K');
  assert.match(lines[lines.length - 1], /^download  \[=+\]  100%  100MB\/100MB  disk\n$/);
  for (const l of lines) assert.ok(l.replace('\n', '').length < 100, `line fits the terminal: ${l}`);
});

test('off a terminal it prints a plain line at most every interval, and the final state', () => {
  const out = sink();
  let now = 0;
  const r = new ProgressRenderer(out.s, { tty: false, plainIntervalMs: 2000, now: () => now });
  for (let i = 1; i <= 10; i++) {
    now = i * 500;
    r.update(ev(i * 10, 100));
  }
  r.done();
  const lines = out.text().trimEnd().split('\n');
  assert.ok(!out.text().includes('\r'), 'no carriage returns in logs');
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[1]), ['10%', '50%', '90%', '100%']);
});

test('a new phase finishes the previous line; abort ends the bar\'s line', () => {
  const out = sink();
  const r = new ProgressRenderer(out.s, { tty: true, columns: 80, now: () => 0 });
  r.update(ev(5, 10, 'download'));
  r.update({ phase: 'assemble', item: '', current: '1', total: '3', unit: 'items', message: '' });
  assert.match(out.text(), /download .*\n\r\x1b\[2Kassemble .* 1\/3 items/);
  r.abort();
  assert.ok(out.text().endsWith('\n'));
});

test('items within a phase update the same line', () => {
  const out = sink();
  const r = new ProgressRenderer(out.s, { tty: true, columns: 120, now: () => 0 });
  r.update(ev(10, 100, 'download', 'sha256:aaa'));
  r.update(ev(60, 100, 'download', 'sha256:bbb'));
  r.done();
  assert.equal(out.text().split('\n').length, 2, 'one finished line and the final newline');
  assert.match(out.text(), /60%.*sha256:bbb\n$/);
});
