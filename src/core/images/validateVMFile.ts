// VMFile parsing and validation. Every problem is collected (never only the first), each with the
// field path as the user wrote it and, for YAML/JSON text, its line.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMap } from 'yaml';
import type { VMFile } from '../ports/images.js';
import { InvalidArgumentError, hasCode, type Issue } from '../errors.js';
import { parseYaml, yamlValue, YAML_LIMITS } from '../yaml/loadYaml.js';
import { qemuImgInfo, type QemuImgInfo } from './qemuImg.js';
import {
  ARCHITECTURES, DISK_FORMATS, FIRMWARES, KEYS, LIMITS, NAME_RE, VMFILE_API_VERSION, VMFILE_KIND, emptyVMFile,
} from './vmfileSchema.js';


/** A POSIX-portable login name, as useradd accepts by default. */
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
export const MAX_VMFILE_BYTES = YAML_LIMITS.maxBytes;
const GIB = 1024 ** 3;

export interface VMFileValidation {
  vmfile?: VMFile;
  errors: Issue[];
  warnings: Issue[];
  /** Absolute path of the disk, when it was found. */
  diskPath?: string;
  diskInfo?: QemuImgInfo;
}

export interface ValidateOptions {
  allowOutsidePaths?: boolean;
  /** Probe the disk file (default true). */
  checkDisk?: boolean;
  signal?: AbortSignal;
}

type LineOf = (p: Array<string | number>) => number | undefined;

class Collector {
  readonly errors: Issue[] = [];
  readonly warnings: Issue[] = [];
  constructor(private readonly lineOf: LineOf) {}

  error(p: Array<string | number>, message: string): void {
    this.errors.push(this.issue(p, message, 'error'));
  }
  warn(p: Array<string | number>, message: string): void {
    this.warnings.push(this.issue(p, message, 'warning'));
  }
  private issue(p: Array<string | number>, message: string, severity: 'error' | 'warning'): Issue {
    const line = this.lineOf(p);
    const i: Issue = { path: p.join('.'), message, severity };
    if (line !== undefined) i.line = line;
    return i;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  return `a ${typeof v}`;
}

/**
 * Reads the known fields of one mapping into `target`, accepting snake_case (the documented form)
 * and camelCase (the wire form). Unknown keys are warnings; wrong types are errors.
 */
function readSection(
  c: Collector, raw: unknown, at: Array<string | number>, section: string,
  assign: (camel: string, value: unknown, p: Array<string | number>) => void,
): void {
  if (raw === undefined || raw === null) return;
  if (!isPlainObject(raw)) {
    c.error(at, `must be a mapping, got ${typeName(raw)}`);
    return;
  }
  const keys = KEYS[section]!;
  const camels = new Map(Object.entries(keys).map(([s, cm]) => [cm, s]));
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(raw)) {
    const camel = keys[k] ?? (camels.has(k) ? k : undefined);
    const p = [...at, k];
    if (camel === undefined) {
      c.warn(p, `unknown field, ignored (known: ${Object.keys(keys).join(', ')})`);
      continue;
    }
    if (seen.has(camel)) {
      c.error(p, `given twice (as ${camels.get(camel)} and ${camel}); keep one`);
      continue;
    }
    seen.add(camel);
    assign(camel, v, p);
  }
}

function str(c: Collector, v: unknown, p: Array<string | number>, max = 4096): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') {
    c.error(p, `must be a string, got ${typeName(v)}${typeof v === 'number' || typeof v === 'boolean' ? ' (quote it)' : ''}`);
    return '';
  }
  if (v.length > max) c.error(p, `is ${v.length} characters long; at most ${max} allowed`);
  if (v.includes('\0')) c.error(p, 'must not contain NUL characters');
  return v;
}

function int(c: Collector, v: unknown, p: Array<string | number>): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    c.error(p, `must be a whole number, got ${typeName(v)}${typeof v === 'string' ? ` "${v.slice(0, 40)}" (units are fixed by the field name)` : ''}`);
    return undefined;
  }
  if (!Number.isSafeInteger(v)) {
    c.error(p, `must be a whole number, got ${v}`);
    return undefined;
  }
  return v;
}

/** Builds a VMFile from a parsed document, collecting type errors with paths. */
function fromObject(c: Collector, root: unknown): VMFile | undefined {
  if (!isPlainObject(root)) {
    c.error([], `a VMFile must be a mapping with api_version, kind, metadata and spec; got ${typeName(root)}`);
    return undefined;
  }
  const vf = emptyVMFile();
  const present = { apiVersion: false, kind: false, metadata: false, spec: false, disk: false, resources: new Set<string>(), os: new Set<string>() };
  readSection(c, root, [], '', (k, v, p) => {
    if (k === 'apiVersion') { vf.apiVersion = str(c, v, p, 256); present.apiVersion = v != null; }
    else if (k === 'kind') { vf.kind = str(c, v, p, 256); present.kind = v != null; }
    else if (k === 'metadata') {
      present.metadata = v != null;
      readSection(c, v, p, 'metadata', (mk, mv, mp) => {
        if (mk === 'labels') {
          if (mv === null || mv === undefined) return;
          if (!isPlainObject(mv)) { c.error(mp, `must be a mapping of strings, got ${typeName(mv)}`); return; }
          for (const [lk, lv] of Object.entries(mv)) {
            const lp = [...mp, lk];
            if (!/^[A-Za-z0-9]([A-Za-z0-9._\/-]{0,251}[A-Za-z0-9])?$/.test(lk)) c.error(lp, 'label keys are 1–253 of [A-Za-z0-9._/-], starting and ending alphanumeric');
            vf.metadata.labels[lk] = str(c, lv, lp, 1024);
          }
        } else {
          (vf.metadata as unknown as Record<string, string>)[mk] = str(c, mv, mp);
        }
      });
    } else if (k === 'spec') {
      present.spec = v != null;
      readSection(c, v, p, 'spec', (sk, sv, sp) => {
        if (sk === 'disk') {
          present.disk = sv != null;
          readSection(c, sv, sp, 'spec.disk', (dk, dv, dp) => {
            (vf.spec.disk as Record<string, string>)[dk] = str(c, dv, dp);
          });
        } else if (sk === 'resources') {
          readSection(c, sv, sp, 'spec.resources', (rk, rv, rp) => {
            const n = int(c, rv, rp);
            if (n !== undefined) {
              (vf.spec.resources as Record<string, number>)[rk] = n;
              present.resources.add(rk);
            } else if (rv !== undefined && rv !== null) {
              present.resources.add(rk); // wrong type already reported; no "missing" on top
            }
          });
        } else if (sk === 'os') {
          readSection(c, sv, sp, 'spec.os', (ok, ov, op) => {
            (vf.spec.os as Record<string, string>)[ok] = str(c, ov, op, 64);
            if (ov != null) present.os.add(ok);
          });
        }
      });
    }
  });
  return vf;
}

/**
 * Semantic checks of a VMFile (also used for the wire form, which has no lines). Fills defaults
 * (resources, os) with a warning so a minimal VMFile still describes a bootable VM.
 */
export function checkVMFile(vf: VMFile, lineOf: LineOf = () => undefined, c = new Collector(lineOf)): { errors: Issue[]; warnings: Issue[] } {
  // The wire form may omit whole messages; fill them so later steps can rely on the shape.
  const blank = emptyVMFile();
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(vf)) {
    c.error([], 'the VMFile is missing');
    return { errors: c.errors, warnings: c.warnings };
  }
  if (!obj(vf.metadata)) vf.metadata = blank.metadata;
  if (!obj(vf.metadata.labels)) vf.metadata.labels = {};
  if (!obj(vf.spec)) vf.spec = blank.spec;
  if (!obj(vf.spec.disk)) vf.spec.disk = blank.spec.disk;
  if (!obj(vf.spec.resources)) vf.spec.resources = blank.spec.resources;
  if (!obj(vf.spec.os)) vf.spec.os = blank.spec.os;
  const before = c.errors.length;
  const strings: Array<[string[], unknown]> = [
    [['api_version'], vf.apiVersion], [['kind'], vf.kind], [['metadata', 'name'], vf.metadata.name],
    [['spec', 'disk', 'path'], vf.spec.disk.path], [['spec', 'disk', 'format'], vf.spec.disk.format],
    [['spec', 'os', 'architecture'], vf.spec.os.architecture], [['spec', 'os', 'firmware'], vf.spec.os.firmware],
  ];
  for (const [p, v] of strings) {
    if (v !== undefined && v !== null && typeof v !== 'string') c.error(p, `must be a string, got ${typeName(v)}`);
  }
  if (c.errors.length > before) return { errors: c.errors, warnings: c.warnings };
  for (const k of ['memoryMb', 'vcpuCount', 'diskSizeGb'] as const) {
    const v = vf.spec.resources[k] as unknown;
    if (v === undefined || v === null) vf.spec.resources[k] = 0;
    else if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      c.error(['spec', 'resources', k.replace(/[A-Z]/g, (m) => '_' + m.toLowerCase())], `must be a whole number, got ${typeName(v)}`);
      vf.spec.resources[k] = 1;
    }
  }
  if (!vf.apiVersion) c.error(['api_version'], `is required: ${VMFILE_API_VERSION}`);
  else if (vf.apiVersion !== VMFILE_API_VERSION) c.error(['api_version'], `unknown api_version "${vf.apiVersion.slice(0, 80)}"; this daemon reads ${VMFILE_API_VERSION}`);
  if (!vf.kind) c.error(['kind'], `is required: ${VMFILE_KIND}`);
  else if (vf.kind !== VMFILE_KIND) c.error(['kind'], `unknown kind "${vf.kind.slice(0, 80)}"; expected ${VMFILE_KIND}`);
  const name = vf.metadata?.name ?? '';
  if (!name) c.error(['metadata', 'name'], 'is required (lowercase letters, digits, . _ -; e.g. debian-12)');
  else if (!NAME_RE.test(name)) c.error(['metadata', 'name'], `"${name.slice(0, 80)}" must be 1–64 lowercase letters, digits, . _ -, starting and ending with a letter or digit`);
  const disk = vf.spec?.disk;
  if (!disk || !disk.path) c.error(['spec', 'disk', 'path'], 'is required: the disk image file, relative to the VMFile');
  if (!disk || !disk.format) c.error(['spec', 'disk', 'format'], `is required: one of ${DISK_FORMATS.join(', ')}`);
  else if (!DISK_FORMATS.includes(disk.format)) c.error(['spec', 'disk', 'format'], `unknown format "${disk.format.slice(0, 40)}"; use one of ${DISK_FORMATS.join(', ')}`);
  const r = vf.spec?.resources ?? { memoryMb: 0, vcpuCount: 0, diskSizeGb: 0 };
  const range = (p: string[], v: number, lim: { min: number; max: number }, unit: string, dflt?: number) => {
    if (v === 0 && dflt !== undefined) return dflt;
    if (v < lim.min || v > lim.max) c.error(p, `${v} is out of range; allowed ${lim.min}–${lim.max} ${unit}`);
    return v;
  };
  if (!r.memoryMb) c.warn(['spec', 'resources', 'memory_mb'], 'not set; defaulting to 1024');
  if (!r.vcpuCount) c.warn(['spec', 'resources', 'vcpu_count'], 'not set; defaulting to 1');
  r.memoryMb = range(['spec', 'resources', 'memory_mb'], r.memoryMb, LIMITS.memoryMb, 'MiB', 1024);
  r.vcpuCount = range(['spec', 'resources', 'vcpu_count'], r.vcpuCount, LIMITS.vcpuCount, 'vCPUs', 1);
  range(['spec', 'resources', 'disk_size_gb'], r.diskSizeGb, LIMITS.diskSizeGb, 'GiB (0 = the disk\'s own size)');
  const os = vf.spec?.os ?? { architecture: '', firmware: '' };
  if (!os.architecture) os.architecture = 'x86_64';
  else if (!ARCHITECTURES.includes(os.architecture)) c.error(['spec', 'os', 'architecture'], `unknown architecture "${os.architecture}"; use one of ${ARCHITECTURES.join(', ')}`);
  if (os.defaultUser !== undefined && os.defaultUser !== '') {
    if (typeof os.defaultUser !== 'string' || !USER_RE.test(os.defaultUser)) {
      c.error(['spec', 'os', 'default_user'], 'must be a login name: lowercase letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters');
    }
  } else {
    delete os.defaultUser;
  }
  if (!os.firmware) os.firmware = 'bios';
  else if (!FIRMWARES.includes(os.firmware)) c.error(['spec', 'os', 'firmware'], `unknown firmware "${os.firmware}"; use bios or uefi`);
  return { errors: c.errors, warnings: c.warnings };
}

/** Parses YAML or JSON text (JSON is read by the YAML 1.2 parser, which keeps line positions). */
export function parseVMFile(content: string): VMFileValidation & { lineOf: LineOf } {
  const noLine: LineOf = () => undefined;
  if (typeof content !== 'string') {
    return { errors: [{ path: '', message: 'content must be text', severity: 'error' }], warnings: [], lineOf: noLine };
  }
  const parsed = parseYaml(content, { what: 'a VMFile', aliases: false });
  const doc = parsed.doc;
  if (!doc) return { errors: parsed.errors, warnings: parsed.warnings, lineOf: noLine };
  const lc = parsed.lineCounter;
  const lineOf: LineOf = (p) => {
    try {
      // Walk up to the nearest node that exists, so a missing field points at its parent.
      for (let n = p.length; n >= 0; n--) {
        const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n), true);
        const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
        if (range) {
          // For a key's value, point at the key's line when the value starts on a later line.
          return lc.linePos(range[0]).line;
        }
        if (n === 0) return undefined;
      }
    } catch { /* an odd document shape: no line */ }
    return undefined;
  };
  const c = new Collector(lineOf);
  c.errors.push(...parsed.errors);
  c.warnings.push(...parsed.warnings);
  if (c.errors.length > 0) return { errors: c.errors, warnings: c.warnings, lineOf };
  if (isMap(doc.contents)) {
    for (const item of doc.contents.items) {
      if (item.key !== null && typeof item.key === 'object' && 'type' in item.key && item.key.type !== 'PLAIN' && item.key.type !== 'QUOTE_DOUBLE' && item.key.type !== 'QUOTE_SINGLE') {
        c.error([], 'top-level keys must be plain strings');
      }
    }
  }
  const { value: root, error } = yamlValue({ ...parsed, doc }, 'a VMFile');
  if (error) {
    c.errors.push(error);
    return { errors: c.errors, warnings: c.warnings, lineOf };
  }
  const vmfile = fromObject(c, root);
  if (vmfile) checkVMFile(vmfile, lineOf, c);
  // The VMFile is returned even with errors: validateVMFile drops it, callers that want a partial read keep it.
  return { vmfile, errors: c.errors, warnings: c.warnings, lineOf };
}

/** Resolves the disk path against `baseDir`, refusing escapes (symlinks included) unless allowed. */
export async function resolveDiskPath(diskPath: string, baseDir: string, allowOutside: boolean): Promise<string> {
  const field = 'spec.disk.path';
  if (diskPath.includes('\0')) throw new InvalidArgumentError('spec.disk.path must not contain NUL', { field });
  const base = path.resolve(baseDir);
  const abs = path.resolve(base, diskPath);
  const inside = (b: string, p: string) => {
    const rel = path.relative(b, p);
    return rel !== '' && !rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel);
  };
  if (!allowOutside && !inside(base, abs)) {
    throw new InvalidArgumentError(`spec.disk.path "${diskPath}" leaves the VMFile's directory ${base}; move the disk beside the VMFile or allow outside paths`, { field });
  }
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new InvalidArgumentError(`spec.disk.path: disk file ${abs} does not exist`, { field });
  }
  if (!allowOutside && !inside(await realpath(base).catch(() => base), real)) {
    throw new InvalidArgumentError(`spec.disk.path "${diskPath}" resolves (through a symlink) to ${real}, outside the VMFile's directory`, { field });
  }
  const st = await stat(real);
  if (!st.isFile()) throw new InvalidArgumentError(`spec.disk.path: ${abs} is not a regular file`, { field });
  return real;
}

/** Checks what qemu-img says the disk is against the VMFile. */
export function checkDiskInfo(vf: VMFile, info: QemuImgInfo, report: (path: string[], msg: string) => void): void {
  if (vf.spec.disk.format && DISK_FORMATS.includes(vf.spec.disk.format) && info.format !== vf.spec.disk.format) {
    report(['spec', 'disk', 'format'], `says ${vf.spec.disk.format} but the file is ${info.format} (qemu-img info); fix the format or convert the disk with qemu-img convert`);
  }
  if (!DISK_FORMATS.includes(info.format)) {
    report(['spec', 'disk', 'path'], `the disk is ${info.format}; only qcow2 and raw are supported (convert with qemu-img convert -O qcow2)`);
  }
  if (info.backingFilename) {
    report(['spec', 'disk', 'path'], `the qcow2 disk has a backing file (${info.backingFilename}); flatten it first: qemu-img convert -O qcow2 in.qcow2 flat.qcow2`);
  }
  const gb = vf.spec.resources.diskSizeGb;
  if (gb > 0 && gb * GIB < info.virtualSize) {
    report(['spec', 'resources', 'disk_size_gb'], `${gb} GiB is smaller than the disk's virtual size (${(info.virtualSize / GIB).toFixed(2)} GiB)`);
  }
}

/** Full validation of VMFile text: syntax, fields, and (unless disabled) the disk file itself. */
export async function validateVMFile(content: string, baseDir: string, opts: ValidateOptions = {}): Promise<VMFileValidation> {
  const parsed = parseVMFile(content);
  const { errors, warnings, lineOf } = parsed;
  const vmfile = parsed.vmfile;
  let diskPath: string | undefined;
  let diskInfo: QemuImgInfo | undefined;
  const diskPathPath = ['spec', 'disk', 'path'];
  if (vmfile && opts.checkDisk !== false && vmfile.spec.disk.path && !errors.some((e) => e.path === 'spec.disk.path')) {
    const push = (p: string[], message: string) => {
      const line = lineOf(p);
      errors.push({ path: p.join('.'), message, severity: 'error', ...(line !== undefined ? { line } : {}) });
    };
    try {
      diskPath = await resolveDiskPath(vmfile.spec.disk.path, baseDir, opts.allowOutsidePaths ?? false);
      diskInfo = await qemuImgInfo(diskPath, opts.signal);
      checkDiskInfo(vmfile, diskInfo, push);
    } catch (err) {
      if (hasCode(err, 'INVALID_ARGUMENT')) push(diskPathPath, err.message.replace(/^spec\.disk\.path:? ?/, ''));
      else throw err;
    }
  }
  return { vmfile: errors.length === 0 ? vmfile : undefined, errors, warnings, diskPath, diskInfo };
}

/** Throws INVALID_ARGUMENT carrying every issue unless the validation passed. */
export function assertValidVMFile(v: { vmfile?: VMFile; errors: Issue[] }, what = 'VMFile'): VMFile {
  if (v.errors.length > 0 || !v.vmfile) {
    const first = v.errors[0];
    const where = (i: Issue) => `${i.path || '(document)'}${i.line !== undefined ? ` (line ${i.line})` : ''}: ${i.message}`;
    const more = v.errors.length > 1 ? ` (and ${v.errors.length - 1} more)` : '';
    throw new InvalidArgumentError(`${what} is invalid: ${first ? where(first) : 'no content'}${more}`, { field: first?.path, issues: v.errors });
  }
  return v.vmfile;
}
