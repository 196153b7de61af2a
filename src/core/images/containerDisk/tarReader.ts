// A streaming tar reader: members come out one at a time with their data as an async stream, pulled
// from the source only as fast as the consumer reads it (memory: one source chunk plus one header).
// Data a consumer leaves unread is skipped. GNU long names and pax path/size records are applied.
import { InvalidArgumentError } from '../../errors.js';
import { TAR_BLOCK, parsePax, parseTarHeader, type RawTarHeader } from '../tar.js';

export interface TarMember extends RawTarHeader {
  /** The member's data; read it (or not) before asking for the next member. */
  body: AsyncIterable<Buffer>;
}

const META_MAX = 1 << 20;

/** Pulls exact byte counts out of a chunk stream. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    return true;
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async exact(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.more()));
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Up to n bytes in the pieces they arrive in; `got` counts what was handed out. */
  async *take(n: number, got: { n: number }): AsyncGenerator<Buffer> {
    while (got.n < n) {
      if (this.buf.length === 0 && !(await this.more())) return;
      const part = this.buf.subarray(0, Math.min(this.buf.length, n - got.n));
      this.buf = this.buf.subarray(part.length);
      got.n += part.length;
      yield part;
    }
  }

  /** Reads and drops the rest of the stream (so a digest over it completes). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }
}

/** `what` names the stream in errors (e.g. "layer 2 (sha256:…)"). */
export async function* readTar(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<TarMember> {
  const bad = (m: string) => new InvalidArgumentError(`${what} is not a valid tar stream: ${m}`, { field: 'reference' });
  const src = new ByteSource(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let members = 0;
  for (;;) {
    const h = await src.exact(TAR_BLOCK);
    if (h.length === 0 && members > 0) return; // some writers omit the end blocks
    if (h.length < TAR_BLOCK) throw bad(h.length === 0 ? 'it is empty' : 'it ends inside a header');
    if (h.every((b) => b === 0)) {
      await src.drain();
      return;
    }
    const raw = parseTarHeader(h);
    if (!raw) throw bad(`header ${members + 1} has a wrong checksum`);
    members++;
    const size = pax.size !== undefined ? Number(pax.size) : raw.size;
    if (!Number.isSafeInteger(size) || size < 0) throw bad(`member "${raw.name.slice(0, 128)}" has a corrupt size`);
    const padded = Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    if (raw.type === 'L' || raw.type === 'K' || raw.type === 'x' || raw.type === 'g') {
      if (size > META_MAX) throw bad(`a ${raw.type} metadata member of ${size} bytes`);
      const data = await src.exact(padded);
      if (data.length < padded) throw bad('it ends inside a metadata member');
      const body = data.subarray(0, size);
      if (raw.type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
      else if (raw.type === 'K') longLink = body.toString('utf8').replace(/\0.*$/s, '');
      else if (raw.type === 'x') pax = parsePax(body);
      continue; // 'g' (global pax) carries nothing a disk needs
    }
    const member: RawTarHeader = {
      ...raw,
      size,
      name: pax.path ?? longName ?? raw.name,
      linkname: pax.linkpath ?? longLink ?? raw.linkname,
      uid: pax.uid !== undefined ? Number(pax.uid) : raw.uid,
      gid: pax.gid !== undefined ? Number(pax.gid) : raw.gid,
    };
    longName = longLink = undefined;
    pax = {};
    // Links, directories, devices and FIFOs carry no data whatever their size field says.
    const dataSize = '123456'.includes(member.type) ? 0 : size;
    const got = { n: 0 };
    yield { ...member, body: src.take(dataSize, got) };
    for await (const _ of src.take(dataSize, got)) { /* skip what the consumer left */ }
    if (got.n < dataSize) throw bad(`it ends inside the data of "${member.name.slice(0, 128)}"`);
    const pad = (dataSize ? Math.ceil(dataSize / TAR_BLOCK) * TAR_BLOCK : 0) - dataSize;
    if (pad && (await src.exact(pad)).length < pad) throw bad(`it ends inside the padding of "${member.name.slice(0, 128)}"`);
  }
}
