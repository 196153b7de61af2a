import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactDuration, humanMiB, humanSize, relativeTime, shortDigest, shortId, table } from '../../src/cli/format.js';
import { defaultSocketPath, resolveAddress } from '../../src/cli/host.js';
import { camelKeys, parseEnvFile, parsePairs } from '../../src/cli/files.js';
import { UsageError } from '../../src/cli/errors.js';
import { defaultSocketPath as daemonDefaultSocketPath } from '../../src/core/config/defaults.js';
import os from 'node:os';
import path from 'node:path';

test('sizes read like docker: decimal units, three significant digits', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize('1234567890'), '1.23GB');
  assert.equal(humanSize(52_428_800), '52.4MB');
  assert.equal(humanSize(999_600), '1MB');
  assert.equal(humanMiB(1024), '1GiB');
  assert.equal(humanMiB(512), '512MiB');
  assert.equal(humanMiB(0), '-');
});

test('times are relative, in docker\'s words', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  const ago = (s: number) => new Date(now - s * 1000).toISOString();
  assert.equal(relativeTime(ago(0.2), now), 'Less than a second ago');
  assert.equal(relativeTime(ago(30), now), '30 seconds ago');
  assert.equal(relativeTime(ago(90), now), 'About a minute ago');
  assert.equal(relativeTime(ago(180), now), '3 minutes ago');
  assert.equal(relativeTime(ago(3600), now), 'About an hour ago');
  assert.equal(relativeTime(ago(5 * 3600), now), '5 hours ago');
  assert.equal(relativeTime(ago(3 * 86400), now), '3 days ago');
  assert.equal(relativeTime(ago(21 * 86400), now), '3 weeks ago');
  assert.equal(relativeTime(ago(800 * 86400), now), '2 years ago');
  assert.equal(relativeTime('', now), '-');
  assert.equal(relativeTime('yesterday-ish', now), 'yesterday-ish');
  assert.equal(compactDuration(42), '42s');
  assert.equal(compactDuration(185), '3m05s');
  assert.equal(compactDuration(3720), '1h02m');
  assert.equal(compactDuration(Infinity), '--');
});

test('ids and digests shorten to 12 characters unless asked not to', () => {
  assert.equal(shortDigest(`sha256:${'ab'.repeat(32)}`), 'abababababab');
  assert.equal(shortDigest('sha256:x', false), 'sha256:x');
  assert.equal(shortId('6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b'), '6f1c2d3e4b5a');
});

test('tables align columns with three spaces and leave no trailing blanks', () => {
  const out = table(['NAME', 'SIZE'], [['a', '1kB'], ['longer-name', '2MB']]);
  assert.equal(out, 'NAME          SIZE\na             1kB\nlonger-name   2MB\n');
});

test('the default socket is the daemon\'s: /run for root, else per user', () => {
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/vmregistry/vmregistry.sock');
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/0' }, 0), '/run/vmregistry/vmregistry.sock');
  assert.equal(defaultSocketPath({}, 1000), path.join(os.tmpdir(), 'vmregistry-1000', 'vmregistry.sock'));
  for (const env of [{}, { XDG_RUNTIME_DIR: '/run/user/4242' }]) {
    assert.equal(defaultSocketPath(env), daemonDefaultSocketPath(env), 'the CLI looks where the daemon listens');
  }
  assert.equal(resolveAddress(undefined, { VMR_HOST: 'unix:///tmp/a.sock' }).target, 'unix:///tmp/a.sock');
  assert.equal(resolveAddress('unix:///tmp/b.sock', { VMR_HOST: 'unix:///tmp/a.sock' }).socketPath, '/tmp/b.sock');
  assert.equal(resolveAddress('/tmp/c.sock', {}).target, 'unix:///tmp/c.sock');
  assert.throws(() => resolveAddress('tcp://1.2.3.4:5', {}), UsageError);
});

test('VMFile keys become camelCase but label keys stay as written', () => {
  assert.deepEqual(camelKeys({ api_version: 'v', metadata: { labels: { 'os_name': 'x' } }, spec: { resources: { memory_mb: 1 } } }),
    { apiVersion: 'v', metadata: { labels: { os_name: 'x' } }, spec: { resources: { memoryMb: 1 } } });
});

test('env files follow docker\'s rules; pairs need key=value', () => {
  const env = parseEnvFile('# c\nA=1\nexport B="two words"\nC=\'x y\'\nD=plain # comment\n\nE=', 'x.env');
  assert.deepEqual(env, { A: '1', B: 'two words', C: 'x y', D: 'plain', E: '' });
  assert.throws(() => parseEnvFile('not a pair', 'x.env'), /x.env:1: expected KEY=VALUE/);
  assert.deepEqual(parsePairs(['a=1', 'b=c=d'], '--label'), { a: '1', b: 'c=d' });
  assert.throws(() => parsePairs(['nope'], '--label'), /--label must be key=value/);
});
