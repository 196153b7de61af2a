// Every message in proto/ says what it is for in a leading comment (the contract is read by client authors
// who never see this code).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../support/services.js';

describe('proto/', () => {
  it('has a leading comment on every message', async () => {
    const dir = path.join(repoRoot, 'proto');
    const files = ((await readdir(dir, { recursive: true })) as string[]).filter((f) => f.endsWith('.proto'));
    const bare: string[] = [];
    for (const f of files) {
      const lines = (await readFile(path.join(dir, f), 'utf8')).split('\n');
      lines.forEach((l, i) => {
        const m = /^\s*message (\w+)/.exec(l);
        if (m && !/^\s*\/\//.test(lines[i - 1] ?? '')) bare.push(`${f}: ${m[1]}`);
      });
    }
    assert.ok(files.length > 1);
    assert.deepEqual(bare, []);
  });
});
