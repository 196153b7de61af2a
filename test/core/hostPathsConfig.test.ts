// paths.import / paths.export in the config, and the one errno → domain error helper for paths.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/core/config/DaemonConfig.js';
import { fromSystemError } from '../../src/core/errors.js';
import { HostPaths, hostPathsOf } from '../../src/core/hostfs/HostPaths.js';

describe('paths.import / paths.export', () => {
  it('default to nothing but <dataDir>/import and <dataDir>/export', async () => {
    const { config } = await loadConfig({ env: {}, object: { dataDir: '/var/tmp/vmr-data' } });
    assert.deepEqual(config.paths, { import: [], export: [] });
    const hp = hostPathsOf(config);
    assert.deepEqual(hp.importDirs, ['/var/tmp/vmr-data/import']);
    assert.deepEqual(hp.exportDirs, ['/var/tmp/vmr-data/export']);
  });

  it('take absolute directories and refuse relative ones and "/"', async () => {
    const { config } = await loadConfig({ env: {}, object: { paths: { import: ['/srv/images/'], export: ['/srv/out'] } } });
    assert.deepEqual(config.paths, { import: ['/srv/images'], export: ['/srv/out'] });
    await assert.rejects(loadConfig({ env: {}, object: { paths: { import: ['rel/dir'] } } }), (e: { field?: string }) => e.field === 'paths.import[0]');
    await assert.rejects(loadConfig({ env: {}, object: { paths: { export: ['/srv/ok', '/'] } } }), (e: { field?: string; message: string }) =>
      e.field === 'paths.export[1]' && /whole host/.test(e.message));
    await assert.rejects(loadConfig({ env: {}, object: { paths: { export: '/srv/out' } } }));
  });

  it('a data dir inside an allowed dir stays unreachable', async () => {
    const hp = new HostPaths({ dataDir: '/', import: ['/'] });
    assert.equal(await hp.allows('paths.import', '/etc/passwd'), false);
  });
});

describe('fromSystemError with a field', () => {
  it('maps path errnos to INVALID_ARGUMENT / NOT_FOUND / PERMISSION_DENIED naming the field, never INTERNAL', () => {
    const table: Array<[string, string]> = [
      ['ENAMETOOLONG', 'INVALID_ARGUMENT'], ['EISDIR', 'INVALID_ARGUMENT'], ['ENOTDIR', 'INVALID_ARGUMENT'],
      ['EINVAL', 'INVALID_ARGUMENT'], ['ELOOP', 'INVALID_ARGUMENT'], ['ERR_INVALID_ARG_VALUE', 'INVALID_ARGUMENT'],
      ['ENOENT', 'NOT_FOUND'], ['EACCES', 'PERMISSION_DENIED'], ['EPERM', 'PERMISSION_DENIED'], ['EEXIST', 'ALREADY_EXISTS'],
      ['ENOSPC', 'RESOURCE_EXHAUSTED'],
    ];
    for (const [errno, code] of table) {
      const e = fromSystemError(Object.assign(new Error(`${errno}: raw syscall text`), { code: errno }), '"/x/y"', 'output_path');
      assert.equal(e.code, code, errno);
      if (code !== 'RESOURCE_EXHAUSTED') {
        assert.equal(e.field, 'output_path', errno);
        assert.match(e.message, /^output_path: "\/x\/y" /, errno);
      }
    }
    // Without a field, EINVAL is not assumed to be about a path.
    assert.equal(fromSystemError(Object.assign(new Error('x'), { code: 'EINVAL' }), 'socket').code, 'INTERNAL');
  });
});
