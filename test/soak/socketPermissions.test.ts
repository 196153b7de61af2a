// The socket is mode 0660: a user outside its group is refused by the kernel; the same user with the
// socket's group as a supplementary group gets in. Runs the client side as `nobody` through setpriv.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';

const pexec = promisify(execFile);
const PROBE = `const s=require('net').connect(process.argv[1]);s.on('connect',()=>{console.log('CONNECTED');s.end()});s.on('error',e=>{console.log(e.code);})`;

/** Connects to `socket` as nobody (plus `groups`); prints CONNECTED or the errno code. */
async function connectAs(socket: string, groups: string[]): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error('the socket permission test runs as root (it switches to nobody with setpriv)');
  const args = ['--reuid=nobody', '--regid=nogroup', groups.length ? `--groups=${groups.join(',')}` : '--clear-groups', process.execPath, '-e', PROBE, socket];
  const { stdout } = await pexec('setpriv', args);
  return stdout.trim();
}

describe('socket permissions', () => {
  let td: TestDaemon;
  before(async () => { td = await startTestDaemon({ config: { socketGroup: 'root' } }); });
  after(async () => { await td.stop(); });

  it('refuses a user outside the socket group and admits one inside it', async () => {
    const st = await stat(td.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, 0);
    assert.equal(await connectAs(td.socket, []), 'EACCES');
    assert.equal(await connectAs(td.socket, ['0']), 'CONNECTED');
    // The daemon still serves its own users after the refused attempt.
    assert.equal((await td.client.call('HealthCheck')).status, 'SERVING');
  });
});
