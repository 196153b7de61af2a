// The codec against byte vectors captured from libvirtd 9.0 (shared/docs/libvirt-rpc.md §1.5, §2, §3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PacketFramer,
  XdrError,
  XdrReader,
  XdrWriter,
  decodeEvent,
  decodePacket,
  decodeRemoteError,
  encodePacket,
  readDomain,
  toVmrError,
  writeDomain,
  Proc,
} from '../../src/plugins/libvirt/rpc/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

test('CONNECT_OPEN call encodes exactly as virsh sends it', () => {
  const w = new XdrWriter();
  w.optional('test:///default', (x, v) => x.string(v)).uint(0);
  const pkt = encodePacket({ prog: 0x20008086, vers: 1, proc: 1, type: 0, serial: 2, status: 0 }, w.toBuffer());
  assert.equal(
    pkt.toString('hex'),
    '00000038200080860000000100000001000000000000000200000000' +
      '000000010000000f' + ascii('test:///default') + '00' + '00000000',
  );
});

test('AUTH_LIST call and reply match the captured vectors', () => {
  assert.equal(
    encodePacket({ prog: 0x20008086, vers: 1, proc: 66, type: 0, serial: 3, status: 0 }).toString('hex'),
    '0000001c200080860000000100000042000000000000000300000000',
  );
  const reply = decodePacket(hex('00000024 20008086 00000001 00000042 00000001 00000003 00000000 00000001 00000000'));
  assert.deepEqual([reply.proc, reply.type, reply.serial, reply.status], [66, 1, 3, 0]);
  assert.deepEqual(new XdrReader(reply.payload).array((r) => r.int()), [0]);
});

test('keepalive PING and PONG are 28-byte empty MESSAGEs with serial 0', () => {
  const ping = hex('0000001c 6b656570 00000001 00000001 00000002 00000000 00000000');
  const p = decodePacket(ping);
  assert.deepEqual([p.prog, p.proc, p.type, p.serial, p.payload.length], [0x6b656570, 1, 2, 0, 0]);
  const pong = encodePacket({ prog: 0x6b656570, vers: 1, proc: 2, type: 2, serial: 0, status: 0 });
  assert.equal(pong.toString('hex'), '0000001c6b6565700000000100000002000000020000000000000000');
});

test('remote_error "authentication required" decodes every field and maps to UnavailableError', () => {
  const msg = ascii('authentication required');
  const pkt = hex(
    '00000088 20008086 00000001 00000001 00000001 00000001 00000001' +
      '00000027 00000007' +
      '00000001 00000017' + msg + '00' +
      '00000002' +
      '00000000' +
      '00000001 00000002 2573 0000' +
      '00000001 00000017' + msg + '00' +
      '00000000' +
      'ffffffff ffffffff' +
      '00000000',
  );
  assert.equal(pkt.length, 0x88);
  const p = decodePacket(pkt);
  assert.equal(p.status, 1);
  const e = decodeRemoteError(p.payload);
  assert.deepEqual(e, {
    code: 39, domain: 7, message: 'authentication required', level: 2,
    str1: '%s', str2: 'authentication required', str3: null, int1: -1, int2: -1,
  });
  const err = toVmrError(e, 'open');
  assert.equal(err.code, 'UNAVAILABLE');
  assert.deepEqual(err.libvirt, { code: 39, domain: 7, message: 'authentication required' });
});

test('libvirt error codes map onto the domain errors', () => {
  const cases: [number, string, string][] = [
    [42, 'Domain not found', 'NOT_FOUND'],
    [43, 'Network not found', 'NOT_FOUND'],
    [80, 'Requested metadata element is not present', 'NOT_FOUND'],
    [28, 'domain exists', 'ALREADY_EXISTS'],
    [9, "network 'x' already exists with uuid", 'ALREADY_EXISTS'],
    [27, 'XML error', 'INVALID_ARGUMENT'],
    [55, 'domain is not running', 'FAILED_PRECONDITION'],
    [3, 'not supported', 'UNIMPLEMENTED'],
    [39, 'unknown procedure: 999', 'UNIMPLEMENTED'],
    [29, 'read only access prevents', 'PERMISSION_DENIED'],
    [1, 'hypervisor connection not open', 'UNAVAILABLE'],
    [38, 'system error', 'INTERNAL'],
  ];
  for (const [code, message, want] of cases) {
    const err = toVmrError({ code, domain: 10, message, level: 2, str1: null, str2: null, str3: null, int1: -1, int2: -1 }, 'x');
    assert.equal(err.code, want, `libvirt code ${code}`);
    assert.equal(err.libvirt?.code, code);
    assert.match(err.message, /^x: /);
  }
});

test('domain lifecycle event (serial 1) decodes with its domain handle', () => {
  const pkt = hex(
    '00000054 20008086 00000001 0000013e 00000002 00000001 00000000' +
      '00000000' +
      '00000012' + ascii('rpcnotes-tmp-22041') + '0000' +
      '6511692b092b4f8bb30e97e0a5c21694' +
      'ffffffff' +
      '00000000 00000000',
  );
  const p = decodePacket(pkt);
  assert.deepEqual([p.proc, p.type, p.serial], [318, 2, 1]);
  const ev = decodeEvent(p.proc, p.payload);
  assert.deepEqual(ev, {
    name: 'domainLifecycle',
    value: {
      callbackId: 0,
      dom: { name: 'rpcnotes-tmp-22041', uuid: '6511692b-092b-4f8b-b30e-97e0a5c21694', id: -1 },
      event: 0,
      detail: 0,
    },
  });
});

test('domain handle round-trips: name padded, uuid as 16 raw bytes, id', () => {
  const d = { name: 'abc', uuid: '6511692b-092b-4f8b-b30e-97e0a5c21694', id: 5 };
  const w = new XdrWriter();
  writeDomain(w, d);
  assert.equal(w.toBuffer().toString('hex'), '00000003' + ascii('abc') + '00' + '6511692b092b4f8bb30e97e0a5c21694' + '00000005');
  const r = new XdrReader(w.toBuffer());
  assert.deepEqual(readDomain(r), d);
  r.end();
});

test('GET_VERSION reply: unsigned hyper as bigint; values above 2^53 survive', () => {
  const p = decodePacket(hex('00000024 20008086 00000001 00000004 00000001 0000000d 00000000 00000000 00000002'));
  assert.equal(new XdrReader(p.payload).uhyper(), 2n);
  const big = 1795960473256724000n;
  const w = new XdrWriter().uhyper(big).hyper(-5n);
  assert.equal(w.toBuffer().toString('hex'), '18ec8888f71c0620' + 'fffffffffffffffb');
  const r = new XdrReader(w.toBuffer());
  assert.equal(r.uhyper(), big);
  assert.equal(r.hyper(), -5n);
  assert.throws(() => new XdrWriter().uhyper(-1n), XdrError);
  assert.throws(() => new XdrWriter().hyper(2n ** 63n), XdrError);
});

test('strings and opaques pad to 4 bytes; empty string is one zero word', () => {
  assert.equal(new XdrWriter().string('').toBuffer().toString('hex'), '00000000');
  assert.equal(new XdrWriter().string('abcd').toBuffer().toString('hex'), '00000004' + ascii('abcd'));
  assert.equal(new XdrWriter().string('é').toBuffer().toString('hex'), '00000002c3a90000');
  assert.equal(new XdrReader(hex('00000002c3a90000')).string(), 'é');
  assert.throws(() => new XdrWriter().string('a\0b'), XdrError);
  assert.throws(() => new XdrWriter().string('abcdef', 4), XdrError);
});

test('XDR errors carry a status: what we cannot send is INVALID_ARGUMENT, what we cannot read is INTERNAL (16.4)', () => {
  assert.throws(() => new XdrWriter().string('x\0y'), (e: { code?: string; message: string }) =>
    e.code === 'INVALID_ARGUMENT' && /cannot be sent to libvirt/.test(e.message));
  assert.throws(() => new XdrReader(hex('000000ff')).string(), (e: { code?: string }) => e.code === 'INTERNAL');
});

test('DOMAIN_GET_INFO ret is 32 bytes: uchar and ushort widen to 4 bytes', () => {
  const ret = hex('00000001 0000000000100000 0000000000080000 00000002 000000000000abcd');
  assert.equal(ret.length, 32);
  const r = new XdrReader(ret);
  assert.deepEqual([r.int(), r.uhyper(), r.uhyper(), r.int(), r.uhyper()], [1, 1048576n, 524288n, 2, 0xabcdn]);
  r.end();
});

test('char[32] model is 128 bytes of widened chars', () => {
  const words = [...'x86_64'].map((c) => c.charCodeAt(0).toString(16).padStart(8, '0')).join('') + '00000000'.repeat(26);
  const r = new XdrReader(hex(words));
  assert.equal(r.charArray(32), 'x86_64');
  assert.equal(r.remaining, 0);
});

test('decoder bounds: truncated data, lengths over the maximum, bad optional flag, trailing bytes', () => {
  assert.throws(() => new XdrReader(hex('0000000a 6162')).string(), /truncated/);
  assert.throws(() => new XdrReader(hex('00000005 0000000000000000')).string(4), /exceeds maximum/);
  assert.throws(() => new XdrReader(hex('7fffffff')).array((r) => r.int()), /exceeds the/);
  assert.throws(() => new XdrReader(hex('00000002 00000000')).optional((r) => r.int()), /discriminant/);
  const r = new XdrReader(hex('00000001 00000002'));
  r.int();
  assert.throws(() => r.end(), /trailing/);
});

test('framer: one packet split at every byte boundary, and many packets in one chunk', () => {
  const a = encodePacket({ prog: 0x20008086, vers: 1, proc: Proc.CONNECT_GET_HOSTNAME, type: 1, serial: 9, status: 0 }, new XdrWriter().string('host').toBuffer());
  const b = encodePacket({ prog: 0x6b656570, vers: 1, proc: 1, type: 2, serial: 0, status: 0 });
  const stream = Buffer.concat([a, b, a]);
  for (let cut = 1; cut < stream.length; cut++) {
    const f = new PacketFramer();
    const out = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
    assert.deepEqual(out.map((x) => x.toString('hex')), [a, b, a].map((x) => x.toString('hex')), `cut at ${cut}`);
    assert.equal(f.pending, 0);
  }
  const f = new PacketFramer();
  const bytes = [...stream].map((x) => f.push(Buffer.from([x]))).flat();
  assert.equal(bytes.length, 3);
  assert.throws(() => new PacketFramer().push(hex('00000004 00000000')), /bad packet length/);
  assert.throws(() => new PacketFramer().push(hex('7fffffff')), /bad packet length/);
});
