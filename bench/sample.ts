// A disk-like sample for the benchmarks: real files (binaries, libraries, text) as a guest's used
// blocks, random runs as already-compressed data, and zero runs as free space.
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, readdirSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

const MiB = 1 << 20;

function* files(dir: string): Generator<string> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries.sort()) {
    const p = path.join(dir, e);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) yield* files(p);
    else if (st.isFile() && st.size > 0 && st.size < 64 * MiB) yield p;
  }
}

/** Out of every 20 blocks of 4 MiB: how many are file content and random; the rest are zeros. */
export interface SampleMix { files: number; random: number }

/** Writes `mib` MiB: per 4 MiB block, by default 60 % file content, 15 % random, 25 % zeros (a hole). */
export function makeSample(file: string, mib: number, mix: SampleMix = { files: 12, random: 3 }): { size: number; zeroMiB: number } {
  const dirs = ['/usr/lib', '/usr/bin', '/usr/share'];
  const src = dirs.map((d) => files(d));
  let gi = 0;
  let pending = Buffer.alloc(0);
  const nextFileBytes = (n: number): Buffer => {
    const parts: Buffer[] = [pending];
    let have = pending.length;
    while (have < n) {
      const k = gi++ % src.length;
      const r = src[k]!.next();
      if (r.done) {
        src[k] = files(dirs[k]!); // a big sample reuses the files from the start
        continue;
      }
      try {
        const b = readFileSync(r.value);
        parts.push(b);
        have += b.length;
      } catch { /* unreadable: skip */ }
    }
    const all = Buffer.concat(parts);
    pending = all.subarray(n);
    return all.subarray(0, n);
  };
  const fd = openSync(file, 'w');
  let zeroMiB = 0;
  for (let off = 0; off < mib * MiB; off += 4 * MiB) {
    const roll = (off / (4 * MiB)) % 20;
    if (roll < mix.files) writeSync(fd, nextFileBytes(4 * MiB), 0, 4 * MiB, off);
    else if (roll < mix.files + mix.random) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, off);
    else zeroMiB += 4;
  }
  ftruncateSync(fd, mib * MiB);
  closeSync(fd);
  return { size: mib * MiB, zeroMiB };
}
