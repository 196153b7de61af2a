// The test-name helper itself: names fit their limits and never repeat; leases exclude other live processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { leaseSubnets, leaseToken, RUN_ID, uniqueBridgeName, uniqueName } from './unique.js';
import { freePort } from './freePort.js';

test('names carry the run id, fit their limit and never repeat', () => {
  const names = Array.from({ length: 500 }, () => uniqueBridgeName('averylongbridgeprefix'));
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.ok(n.length <= 15 && n.includes(RUN_ID), n);
  assert.match(uniqueName('vmr-t'), new RegExp(`^vmr-t-${RUN_ID}[0-9a-z]+$`));
});

test('subnet blocks leased in one process do not overlap', () => {
  const a = leaseSubnets(4);
  const b = leaseSubnets(2);
  assert.ok(b + 2 <= a || a + 4 <= b, `blocks ${a}+4 and ${b}+2 overlap`);
});

test('a token leased here is refused to another live process and freed when this one exits', () => {
  const token = uniqueName('t');
  assert.equal(leaseToken('selftest', token), true);
  assert.equal(leaseToken('selftest', token), false, 'a second lease of a held token');
  const self = fileURLToPath(new URL('./unique.js', import.meta.url));
  const other = (t: string) => execFileSync(process.execPath, ['--input-type=module', '-e',
    `import { leaseToken } from ${JSON.stringify(self)}; process.stdout.write(String(leaseToken('selftest', ${JSON.stringify(t)})))`], { encoding: 'utf8' });
  assert.equal(other(token), 'false', 'another process must not get a token this process holds');
  const fresh = uniqueName('t');
  assert.equal(other(fresh), 'true');
  assert.equal(leaseToken('selftest', fresh), true, 'the other process released its lease when it exited');
});

test('freePort never hands the same port twice while the process lives', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length);
});
