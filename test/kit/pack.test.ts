// What `npm pack` ships: the built dist/src with its type declarations, the contract (proto/) and schemas;
// no tests, benches, sources or source maps. `prepack` builds, so a clean checkout or a git dependency packs dist/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/services.js';

describe('npm pack', () => {
  it('ships dist/src, proto/ and schemas/ and nothing from tests, benches or sources', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, maxBuffer: 64 << 20 });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const f of ['dist/src/plugin-api/index.js', 'dist/src/plugin-api/index.d.ts', 'dist/src/testing/index.js', 'dist/src/testing/index.d.ts',
      'dist/src/bin/vmregistryd.js', 'dist/src/bin/vmr.js', 'dist/src/bin/vmr.cjs', 'dist/src/bin/vmr-bundle.cjs', 'dist/src/plugins/libvirt/index.js', 'proto/vm.proto', 'package.json']) {
      assert.ok(files.includes(f), `${f} is shipped`);
    }
    const stray = files.filter((f) => /^(dist\/(test|bench)\/|test\/|bench\/|src\/|examples\/|scripts\/|node_modules\/)|\.map$/.test(f));
    assert.deepEqual(stray, []);
  });

  it('builds before packing, and every export points into what is shipped', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    assert.match(pkg.scripts.prepack, /npm run build/);
    for (const [sub, target] of Object.entries(pkg.exports as Record<string, string | Record<string, string>>)) {
      for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
        assert.ok(file === './package.json' || file.startsWith('./dist/src/'), `${sub} → ${file}`);
      }
    }
  });
});
