// The shared domain rules the plugin API exports, at the points where copies used to disagree.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkSubnet, CancelledError, hasCode, isVmName, NotFoundError, parseIpv4, parseSubnet, silentLogger, sleep, splitReference,
} from '../../src/plugin-api/index.js';

const D = `sha256:${'b'.repeat(64)}`;

describe('shared rules', () => {
  it('IPv4: a leading zero is refused (octal under inet_aton)', () => {
    assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
    assert.equal(parseIpv4('010.0.0.1'), undefined);
    assert.equal(parseIpv4('10.0.0.256'), undefined);
  });

  it('subnets: /8../29, the same for libvirt, compose and the fake', () => {
    assert.equal(typeof parseSubnet('10.1.0.0/29'), 'object');
    assert.match(parseSubnet('10.1.0.0/30') as string, /prefix \/30 must be between \/8 and \/29/);
    assert.match(parseSubnet('10.1.0.0/33') as string, /prefix \/33/);
    assert.throws(() => checkSubnet('10.1.0.1/24', 'subnet'), (e) => hasCode(e, 'INVALID_ARGUMENT') && /host bits/.test(e.message));
  });

  it('VM names: 63 characters at most', () => {
    assert.equal(isVmName('a'.repeat(63)), true);
    assert.equal(isVmName('a'.repeat(64)), false);
  });

  it('references: one grammar, a host-looking first component must be a host', () => {
    assert.deepEqual(splitReference(`localhost/x:1@${D}`), { registry: 'localhost', path: 'x', tag: '1', digest: D });
    assert.deepEqual(splitReference('[::1]:5000/vm/a'), { registry: '[::1]:5000', path: 'vm/a', tag: undefined, digest: undefined });
    assert.deepEqual(splitReference('team/vm'), { registry: undefined, path: 'team/vm', tag: undefined, digest: undefined });
    assert.throws(() => splitReference('reg_x.example/vm'), (e) => hasCode(e, 'INVALID_ARGUMENT') && /not a host/.test(e.message));
  });

  it('hasCode matches any of the codes and only domain errors', () => {
    const e = new NotFoundError('gone');
    assert.equal(hasCode(e, 'NOT_FOUND'), true);
    assert.equal(hasCode(e, 'UNAVAILABLE', 'NOT_FOUND'), true);
    assert.equal(hasCode(e, 'UNAVAILABLE'), false);
    assert.equal(hasCode(Object.assign(new Error('x'), { code: 'NOT_FOUND' }), 'NOT_FOUND'), false);
  });

  it('sleep rejects with CANCELLED and the given message, at once when already aborted', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal, 'stopped waiting');
    ac.abort(new Error('why'));
    await assert.rejects(p, (e) => e instanceof CancelledError && e.message === 'stopped waiting' && (e.cause as Error).message === 'why');
    await assert.rejects(sleep(60_000, ac.signal), (e) => hasCode(e, 'CANCELLED'));
    await sleep(0);
  });

  it('silentLogger drops everything and its children too', () => {
    const log = silentLogger();
    log.info({ token: 'x' }, 'dropped');
    assert.equal(log.child({ a: 1 }), log);
  });
});
