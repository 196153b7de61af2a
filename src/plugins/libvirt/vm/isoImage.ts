// A small ISO 9660 image (ECMA-119) with Rock Ridge names (SUSP/RRIP 1.10): one root directory of
// regular files, which is all a NoCloud seed is. Written in-process because the seed is on the path of
// every `vmr run` and xorriso, the tool it replaced, sleeps 100 ms in its drive layer before it exits
// (issue 17). Rock Ridge is what gives the files their real names (`user-data`; ISO 9660 itself allows
// only A-Z, 0-9 and _) to Linux's isofs, blkid, cloud-init and xorriso alike.

const SECTOR = 2048;
/** Zero sectors after the data, as mkisofs/xorriso -pad write: Linux's read-ahead at a CD's end reads past it. */
const PAD_SECTORS = 150;
const FIRST_DIR_SECTOR = 20; // 0-15 system area, 16 PVD, 17 terminator, 18 L and 19 M path table

export interface IsoFile {
  name: string;
  data: Buffer;
}

const both16 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt16LE(n, 0); b.writeUInt16BE(n, 2); return b; };
const both32 = (n: number) => { const b = Buffer.alloc(8); b.writeUInt32LE(n, 0); b.writeUInt32BE(n, 4); return b; };
const sectors = (bytes: number) => Math.ceil(bytes / SECTOR);

/** d-characters only, at most 30 with the extension (ISO 9660 level 2); Rock Ridge carries the real name. */
function isoName(name: string, taken: Set<string>): string {
  const base = name.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 24) || '_';
  let id = base;
  for (let i = 1; taken.has(id); i++) id = `${base.slice(0, 20)}_${i}`;
  taken.add(id);
  return `${id}.;1`;
}

/** A SUSP entry: signature, length, version 1, payload. */
function susp(sig: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(sig, 'latin1'), Buffer.from([4 + payload.length, 1]), payload]);
}

/** RRIP PX: POSIX mode, links, uid, gid (root-owned; QEMU's guest sees them read-only anyway). */
const px = (mode: number, links: number) => susp('PX', Buffer.concat([both32(mode), both32(links), both32(0), both32(0)]));
const nm = (name: string) => susp('NM', Buffer.concat([Buffer.from([0]), Buffer.from(name, 'utf8')]));
/** SP (SUSP in use, no bytes skipped) and ER (the RRIP 1.10 extension), in the root's "." record. */
const rootSusp = () => Buffer.concat([
  susp('SP', Buffer.from([0xbe, 0xef, 0])),
  susp('ER', Buffer.concat([Buffer.from([10, 10, 0, 1]), Buffer.from('RRIP_1991AROCK RIDGE', 'latin1')])),
]);

function recordedAt(d: Date): Buffer {
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0]);
}

function dirRecord(id: Buffer, extent: number, length: number, dir: boolean, when: Date, su: Buffer): Buffer {
  const pad = id.length % 2 === 0 ? 1 : 0;
  const suPad = su.length % 2; // records stay even-sized
  const len = 33 + id.length + pad + su.length + suPad;
  if (len > 255) throw new Error(`ISO directory record too long (${len} bytes)`);
  const r = Buffer.alloc(len);
  r[0] = len;
  both32(extent).copy(r, 2);
  both32(length).copy(r, 10);
  recordedAt(when).copy(r, 18);
  r[25] = dir ? 2 : 0;
  both16(1).copy(r, 28);
  r[32] = id.length;
  id.copy(r, 33);
  su.copy(r, 33 + id.length + pad);
  return r;
}

/** Lays records into sectors: a record never crosses a sector boundary. */
function packRecords(records: Buffer[]): Buffer {
  const out: Buffer[] = [];
  let used = 0;
  for (const r of records) {
    if (used + r.length > SECTOR) {
      out.push(Buffer.alloc(SECTOR - used));
      used = 0;
    }
    out.push(r);
    used += r.length;
  }
  if (used % SECTOR !== 0) out.push(Buffer.alloc(SECTOR - used));
  return Buffer.concat(out);
}

const text = (s: string, n: number) => Buffer.from(s.padEnd(n, ' ').slice(0, n), 'latin1');
const longDate = (d: Date) => Buffer.concat([Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + '00', 'latin1'), Buffer.from([0])]);

/** The image: volume label `label`, `files` in its root directory. */
export function isoImage(label: string, files: IsoFile[], when = new Date()): Buffer {
  const taken = new Set<string>();
  const entries = files.map((f) => ({ ...f, id: isoName(f.name, taken) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // The directory's size depends only on its records' sizes, not on the extents they name.
  const layout = (dirSectors: number, firstData: number) => {
    let next = firstData;
    const placed = entries.map((e) => {
      const extent = e.data.length ? next : 0;
      next += sectors(e.data.length);
      return { ...e, extent };
    });
    const dirBytes = dirSectors * SECTOR;
    const records = [
      dirRecord(Buffer.from([0]), FIRST_DIR_SECTOR, dirBytes, true, when, Buffer.concat([rootSusp(), px(0o40555, 2)])),
      dirRecord(Buffer.from([1]), FIRST_DIR_SECTOR, dirBytes, true, when, px(0o40555, 2)),
      ...placed.map((e) => dirRecord(Buffer.from(e.id, 'latin1'), e.extent, e.data.length, false, when, Buffer.concat([px(0o100444, 1), nm(e.name)]))),
    ];
    return { placed, dir: packRecords(records), end: next };
  };
  const dirSectors = sectors(layout(1, 0).dir.length);
  const { placed, dir, end } = layout(dirSectors, FIRST_DIR_SECTOR + dirSectors);
  const total = end + PAD_SECTORS;

  const img = Buffer.alloc(total * SECTOR);
  const pvd = img.subarray(16 * SECTOR, 17 * SECTOR);
  pvd[0] = 1;
  pvd.write('CD001', 1, 'latin1');
  pvd[6] = 1;
  text('LINUX', 32).copy(pvd, 8);
  text(label, 32).copy(pvd, 40);
  both32(total).copy(pvd, 80);
  both16(1).copy(pvd, 120);
  both16(1).copy(pvd, 124);
  both16(SECTOR).copy(pvd, 128);
  both32(10).copy(pvd, 132); // path table: the root's entry only
  pvd.writeUInt32LE(18, 140);
  pvd.writeUInt32BE(19, 148);
  dir.copy(pvd, 156, 0, 34); // the root's "." record without its system use area
  pvd[156] = 34;
  for (const [at, n] of [[190, 128], [318, 128], [446, 128], [574, 128], [702, 37], [739, 37], [776, 37]] as const) text('', n).copy(pvd, at);
  text('VMREGISTRY', 128).copy(pvd, 574);
  longDate(when).copy(pvd, 813);
  longDate(when).copy(pvd, 830);
  Buffer.concat([Buffer.from('0'.repeat(16), 'latin1'), Buffer.from([0])]).copy(pvd, 847);
  longDate(when).copy(pvd, 864);
  pvd[881] = 1;

  const term = img.subarray(17 * SECTOR);
  term[0] = 255;
  term.write('CD001', 1, 'latin1');
  term[6] = 1;

  // Path tables: [len 1][ext attr 0][extent][parent 1][id 0][pad], little-endian (L) and big-endian (M).
  const lpt = img.subarray(18 * SECTOR);
  lpt[0] = 1;
  lpt.writeUInt32LE(FIRST_DIR_SECTOR, 2);
  lpt.writeUInt16LE(1, 6);
  const mpt = img.subarray(19 * SECTOR);
  mpt[0] = 1;
  mpt.writeUInt32BE(FIRST_DIR_SECTOR, 2);
  mpt.writeUInt16BE(1, 6);

  dir.copy(img, FIRST_DIR_SECTOR * SECTOR);
  for (const e of placed) e.data.copy(img, e.extent * SECTOR);
  return img;
}
