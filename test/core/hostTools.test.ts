import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HOST_TOOLS, hostToolsHealth, missingHostTools } from '../../src/core/health/hostTools.js';

test('missing host tools are named with the Debian package to install; present ones are found on PATH', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-tools-'));
  try {
    for (const t of ['qemu-img', 'zstd']) await fs.writeFile(path.join(dir, t), '#!/bin/sh\n', { mode: 0o755 });
    await fs.writeFile(path.join(dir, 'prlimit'), 'not executable', { mode: 0o644 });
    const tools = HOST_TOOLS.filter((t) => t.tool !== 'dnsmasq');
    const missing = await missingHostTools({ PATH: dir }, tools);
    assert.deepEqual(missing.map((t) => t.tool), ['prlimit', 'qemu-system-x86_64']);
    const h = await hostToolsHealth({ PATH: dir });
    assert.equal(h.status, 'NOT_SERVING');
    assert.match(h.message, /prlimit is missing \(needed for bounding each layer's decompression to its window\): apt-get install util-linux/);
    assert.match(h.message, /apt-get install qemu-system-x86/);
    assert.match(h.message, /scripts\/host-setup\.sh/);
    assert.equal(h.details?.['qemu-img'], undefined);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
