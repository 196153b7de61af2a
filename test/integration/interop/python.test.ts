// Interop with a client we did not write: Debian's python3-grpcio, stubs compiled by protoc from our protos.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/index.js';
import { repoRoot, requireService } from '../../support/services.js';

const pexec = promisify(execFile);
// Debian's interpreter, not whatever python3 comes first on PATH: grpcio is a Debian package here.
const PY = '/usr/bin/python3';

describe('interop: python3-grpcio client', () => {
  let td: TestDaemon;
  let stubs: string;
  before(async () => {
    await requireService('packages');
    stubs = await mkdtemp(path.join(os.tmpdir(), 'vmrt-py-'));
    const proto = path.join(repoRoot, 'proto');
    const defs = (await readdir(path.join(proto, 'defs'))).map((f) => path.join(proto, 'defs', f));
    await pexec('protoc', [`-I${proto}`, '-I/usr/include', `--python_out=${stubs}`, `--grpc_out=${stubs}`,
      '--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin', path.join(proto, 'vm.proto'), ...defs]);
    td = await startTestDaemon();
  });
  after(async () => {
    await td?.stop();
    if (stubs) await rm(stubs, { recursive: true, force: true });
  });

  it('calls HealthCheck and the Context RPCs and gets the right answers and codes', async () => {
    const { stdout } = await pexec(PY, [path.join(repoRoot, 'test/integration/interop/client.py'), td.socket, stubs], { timeout: 60_000 });
    const r = JSON.parse(stdout);
    assert.equal(r.health.status, 'SERVING');
    assert.equal(r.health.components.daemon, 'SERVING');
    assert.equal(r.health.components.hypervisor, 'NOT_CONFIGURED');
    assert.equal(r.current, 'default');
    assert.deepEqual(r.created, { name: 'py', current: true, registry_url: 'localhost:5000' });
    assert.deepEqual(r.list, ['default', 'py']);
    assert.equal(r.list_current, 'py');
    assert.equal(r.remove_current, 'FAILED_PRECONDITION');
    assert.match(r.remove_current_details, /current context/);
    assert.equal(r.removed, 'py');
    assert.equal(r.bad_name, 'INVALID_ARGUMENT');
  });
});
