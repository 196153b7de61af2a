// The one source of names and subnets for everything a test creates on the host or in libvirt
// (bridges, networks, domains, projects, sockets). Names carry a random per-process token, never
// `pid % N`: on a fresh machine pids are small and close, so modulo schemes collide across suites.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Random per test process; 6 lowercase hex characters. */
export const RUN_ID = randomBytes(3).toString('hex');
let counter = 0;

/**
 * `<prefix>-<run>-<n>`, unique per process and (with overwhelming probability) across processes and
 * runs. `maxLength` bounds the result (15 for Linux interface names); the prefix is cut to fit.
 */
export function uniqueName(prefix: string, maxLength = 63): string {
  const tail = `${RUN_ID}${(counter++).toString(36)}`;
  const room = maxLength - tail.length - 1;
  if (room < 1) throw new Error(`uniqueName: maxLength ${maxLength} leaves no room for a prefix`);
  return `${prefix.slice(0, room)}-${tail}`;
}

/** A bridge (host interface) name: at most 15 characters. */
export const uniqueBridgeName = (prefix = 'vmrbr'): string => uniqueName(prefix, 15);

const LEASES = path.join(os.tmpdir(), 'vmregistry-test-subnets');
const held = new Set<string>();

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

function hostUses(prefix: string): boolean {
  // A subnet still on a host interface (a network left by a killed run) is not free even if its lease is stale.
  try { return execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).includes(` ${prefix}.`); } catch { return false; }
}

function tryLease(dir: string, token: string): boolean {
  const file = path.join(dir, token);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      held.add(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (owner && alive(owner)) return false;
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  return false;
}

/** Leases a name in a cross-process namespace (a file under the OS temp dir); false if a live process holds it. */
export function leaseToken(kind: string, token: string): boolean {
  const dir = path.join(os.tmpdir(), `vmregistry-test-${kind}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return tryLease(dir, token);
}

/**
 * Leases `count` consecutive /24 blocks `10.<second>.<x>.0/24` free on this host and not leased by any
 * other live test process; returns the first third octet. Released when the process exits.
 */
export function leaseSubnets(count: number, second = 231): number {
  fs.mkdirSync(LEASES, { recursive: true, mode: 0o700 });
  const start = 10 + Math.floor(Math.random() * 200);
  for (let i = 0; i < 240; i++) {
    const base = 10 + ((start - 10 + i) % (250 - count - 10));
    const got: string[] = [];
    for (let k = 0; k < count; k++) {
      const prefix = `10.${second}.${base + k}`;
      if (hostUses(prefix) || !tryLease(LEASES, prefix)) break;
      got.push(prefix);
    }
    if (got.length === count) return base;
    for (const p of got) releaseLease(p);
  }
  throw new Error(`no ${count} free consecutive /24 subnets under 10.${second}.0.0/16`);
}

function releaseLease(prefix: string): void {
  const file = path.join(LEASES, prefix);
  if (held.delete(file)) fs.rmSync(file, { force: true });
}

process.once('exit', () => { for (const f of held) fs.rmSync(f, { force: true }); });
