// Seeded generator of hostile VMService requests, driven by the loaded proto descriptors: every field
// gets values of its type chosen to hurt (empty, huge, unicode, NUL and control characters, shell and
// XML metacharacters, "..", absolute paths, negative/huge numbers, unknown enum values, deep repeats),
// and whole messages get corrupted bytes. The same seed gives the same requests.
import type { PackageDefinition } from '@grpc/proto-loader';

export type Rng = () => number;

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

interface FieldDesc { name: string; number: number; type: string; typeName: string; label: string }
interface MessageDesc { name?: string; field?: FieldDesc[]; nestedType?: MessageDesc[]; options?: { mapEntry?: boolean } | null; enumType?: unknown[] }

export interface GenOptions {
  /** A directory the run may write into: every writable path the generator makes that is absolute points inside it. */
  sandbox: string;
  /** Scale of "huge" strings and repeats; the short run keeps it small. */
  hugeBytes: number;
}

const SHELL_XML = ['$(id)', '`id`', '; rm -rf /', '| cat /etc/passwd', '&& reboot', '<x/>', ']]>', '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "'\"", '${HOME}', '%s%n%x', '\\'];
const UNICODE = ['é', '名前', '🦀🦀', '\u202eevil', '\ufeffbom', 'ﬁ', '\u0301', 'Ω≈ç√'];
const CONTROL = ['\u0000', 'a\u0000b', '\u0001\u0002', '\r\n', '\n', '\t', '\u001b[31m', '\u007f'];
const NAMEISH = ['web', 'a', 'vm-1', 'default', 'x.y_z', 'A', '0', 'lab'];
const REFISH = ['debian:12', 'localhost:5000/x/y:1', 'x@sha256:' + '0'.repeat(64), 'UPPER:tag', 'a//b', ':', '@', 'x:' + 't'.repeat(200)];
const URLISH = ['http://127.0.0.1:1', 'https://registry.invalid', 'unix:///etc/passwd', 'qemu:///system', 'qemu+ssh://root@h/system', 'file:///etc/shadow', 'javascript:alert(1)', 'http://[::1', '//x'];
const PATHS_READ = ['/etc/passwd', '/etc', '/', '/nonexistent-vmr-fuzz/x', '/proc/self/status'];

export class HostileValues {
  /** Set while generating the items of a long repeat: no huge values then. */
  small = false;

  constructor(private readonly r: Rng, private readonly o: GenOptions) {}

  string(fieldName: string): string {
    const r = this.r;
    const n = fieldName.toLowerCase();
    const writable = /output|dest/.test(n);
    const pathy = /path|dir|file/.test(n);
    const huge = () => pick(r, ['x', 'é', '\u0000', '../', 'a-']).repeat(Math.max(1, Math.floor((this.small ? 64 : this.o.hugeBytes) * r())));
    const pools: Array<() => string> = [
      () => '',
      huge,
      () => pick(r, UNICODE),
      () => pick(r, CONTROL),
      () => pick(r, SHELL_XML),
      () => pick(r, NAMEISH) + pick(r, ['', ...CONTROL, ...SHELL_XML, '..', '/', ' ']),
      () => pick(r, ['..', '../..', '../../../etc/passwd', './x', 'a/../../b', '.', '...']),
      () => `${this.o.sandbox}/${pick(r, ['x', 'a/../b', 'n'.repeat(300), 'x/', 'dir/x', '.hidden', '\u0000x'])}`,
      () => pick(r, NAMEISH),
      () => String(Math.floor(r() * 1e6) - 5e5),
    ];
    if (/ref|image|source|target|reference/.test(n)) pools.push(() => pick(r, REFISH), () => pick(r, REFISH));
    if (/url|server|uri/.test(n)) pools.push(() => pick(r, URLISH), () => pick(r, URLISH));
    // Absolute paths outside the sandbox only where the daemon reads; never a target it would write.
    if (pathy && !writable) pools.push(() => pick(r, PATHS_READ));
    if (/content/.test(n)) pools.push(() => yamlish(r, this.o.hugeBytes));
    let v = pick(r, pools)();
    if (writable && v.startsWith('/') && !v.startsWith(this.o.sandbox)) v = `${this.o.sandbox}${v}`;
    return v;
  }

  int(type: string): number | string {
    const r = this.r;
    const unsigned = /UINT|FIXED/.test(type) && !/SFIXED/.test(type);
    const wide = /64/.test(type);
    const xs: Array<number | string> = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, -(2 ** 31), 7, 60, 86401, 1e9];
    if (wide) xs.push('9223372036854775807', '-9223372036854775808', '18446744073709551615', String(2 ** 53 + 1));
    const v = pick(r, xs);
    // The client's encoder refuses what the type cannot hold; those are the server's to see as bytes.
    if (unsigned && (typeof v === 'number' ? v < 0 : v.startsWith('-'))) return 0;
    if (!wide && typeof v === 'number' && (unsigned ? v > 2 ** 32 - 1 : v > 2 ** 31 - 1)) return unsigned ? 2 ** 32 - 1 : 2 ** 31 - 1;
    if (!wide && typeof v === 'string') return 0;
    if (unsigned && v === '18446744073709551615' && !/64/.test(type)) return 0;
    if (!unsigned && v === '18446744073709551615') return '9223372036854775807';
    return v;
  }

  bytes(): Buffer {
    const r = this.r;
    return pick(r, [
      () => Buffer.alloc(0),
      () => Buffer.from('QFI\xfb'),
      () => Buffer.from(Array.from({ length: Math.floor(r() * 4096) }, () => Math.floor(r() * 256))),
      () => Buffer.alloc(Math.floor((this.small ? 64 : this.o.hugeBytes) * r())),
    ])();
  }
}

function yamlish(r: Rng, huge: number): string {
  const head = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: fz\n';
  return pick(r, [
    () => `${head}services:\n  a: { image: x, replicas: ${pick(r, [10000000, -1, 65, 1e300, '"${N}"'])} }\n`,
    () => `${head}x: &a [1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nz: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nservices: { a: { image: x, labels: { l: *c } } }\n`,
    () => '['.repeat(Math.min(huge, 50_000)),
    () => `${head}services:\n  a:\n    image: x\n    cloud_init: { user_data_file: ../../../../etc/shadow }\n`,
    () => `${head}networks: { n: { subnet: 10.0.0.0/0 } }\nservices: { a: { image: x, networks: [n] } }\n`,
    () => `api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: "a\\0b" }\nspec: { disk: { path: /etc/passwd, format: raw } }\n`,
    () => '\u0000\u0001\u0002',
    () => `${head}services:\n${'  s: { image: x }\n'.repeat(200)}`,
  ])();
}

/** Builds hostile request objects (proto-loader's JS shape: camelCase, int64 as strings) for a message type. */
export class MessageGenerator {
  private readonly v: HostileValues;
  constructor(private readonly pkgDef: PackageDefinition, private readonly r: Rng, private readonly o: GenOptions) {
    this.v = new HostileValues(r, o);
  }

  message(desc: MessageDesc, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of desc.field ?? []) {
      // Leave about a third of the fields unset, as real callers do.
      if (this.r() < 0.35) continue;
      const key = f.name; // proto-loader already gives camelCase names in the descriptor
      const nested = f.type === 'TYPE_MESSAGE' ? this.resolve(f.typeName, desc) : undefined;
      if (nested?.options?.mapEntry) {
        const n = this.count();
        const m: Record<string, unknown> = {};
        this.smallWhile(n > 16, () => {
          for (let i = 0; i < n; i++) m[this.v.string('key') + (i ? String(i) : '')] = this.value(nested.field!.find((x) => x.number === 2)!, nested, depth + 1);
        });
        out[key] = m;
      } else if (f.label === 'LABEL_REPEATED') {
        const n = this.count();
        // Many items, each small: a deep repeat tests the count, not the memory of the test itself.
        out[key] = this.smallWhile(n > 16, () => Array.from({ length: n }, () => this.value(f, desc, depth + 1)));
      } else {
        out[key] = this.value(f, desc, depth + 1);
      }
    }
    return out;
  }

  private smallWhile<T>(on: boolean, fn: () => T): T {
    if (!on || this.v.small) return fn();
    this.v.small = true;
    try {
      return fn();
    } finally {
      this.v.small = false;
    }
  }

  /** How many items a repeated field or map gets: mostly few, sometimes very many ("deep repeats"). */
  private count(): number {
    const x = this.r();
    return x < 0.5 ? Math.floor(x * 6) : x < 0.95 || this.v.small ? 1 : Math.min(10_000, Math.floor(this.o.hugeBytes / 64));
  }

  private value(f: FieldDesc, parent: MessageDesc, depth: number): unknown {
    switch (f.type) {
      case 'TYPE_STRING': return this.v.string(f.name);
      case 'TYPE_BYTES': return this.v.bytes();
      case 'TYPE_BOOL': return this.r() < 0.5;
      case 'TYPE_DOUBLE': case 'TYPE_FLOAT': return pick(this.r, [0, -1, 1e308, Number.NaN, Number.POSITIVE_INFINITY, 0.5]);
      case 'TYPE_ENUM': return this.enumValue(f, parent);
      case 'TYPE_MESSAGE': {
        const nested = this.resolve(f.typeName, parent);
        if (!nested || depth > 6) return {};
        return this.message(nested, depth);
      }
      default: return this.v.int(f.type);
    }
  }

  private enumValue(f: FieldDesc, _parent: MessageDesc): unknown {
    // Known names are the server's ordinary case; unknown numbers are what a newer or hostile client sends.
    const key = Object.keys(this.pkgDef).find((k) => k.endsWith(`.${f.typeName.replace(/^\./, '')}`) || k === f.typeName);
    const values = key ? ((this.pkgDef[key] as { type?: { value?: Array<{ name: string }> } }).type?.value ?? []).map((x) => x.name) : [];
    return this.r() < 0.6 && values.length ? pick(this.r, values) : pick(this.r, [99, 2 ** 31 - 1, -1, 12345]);
  }

  private resolve(typeName: string, scope: MessageDesc): MessageDesc | undefined {
    const name = typeName.replace(/^\./, '');
    const nested = scope.nestedType?.find((n) => n.name === name);
    if (nested) return nested;
    const key = this.pkgDef[name] ? name : Object.keys(this.pkgDef).find((k) => k.endsWith(`.${name}`));
    return key ? ((this.pkgDef[key] as { type?: MessageDesc }).type) : undefined;
  }
}

/** Corrupts encoded bytes: flips, truncates, grows a length prefix, appends garbage or a bad tag. */
export function corrupt(r: Rng, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  return pick(r, [
    () => (b.length ? b.subarray(0, Math.floor(r() * b.length)) : Buffer.from([0x0a, 0x7f])),
    () => { for (let i = 0; i < 1 + Math.floor(r() * 4) && b.length; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8); return b; },
    () => Buffer.concat([b, Buffer.from([0x0f, 0xff])]),
    () => Buffer.concat([b, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])]),
    () => Buffer.concat([Buffer.from([0x0a, 0x80 | Math.floor(r() * 127), 0x01]), b]),
    () => Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))),
  ])();
}
