import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SessionCrypto } from '../../src/plugins/auth-oidc/sessionCrypto.js';
import { SessionStore, type Session } from '../../src/plugins/auth-oidc/session.js';
import { MemoryStateStore } from '../support/oidc/memoryState.js';
import { RecordingLogger } from '../support/oidc/harness.js';

describe('session crypto', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vmr-auth-crypto-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte key in a 0600 file inside a 0700 dir, and reuses it', async () => {
    const d = path.join(dir, 'a');
    const c1 = await SessionCrypto.open(d);
    const file = path.join(d, 'session.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(d)).mode & 0o777, 0o700);
    assert.equal((await readFile(file)).length, 32);
    const sealed = c1.seal('secret', 'k');
    const c2 = await SessionCrypto.open(d);
    assert.equal(c2.open(sealed, 'k'), 'secret');
  });

  it('round-trips, and every sealing differs (fresh IV)', async () => {
    const c = await SessionCrypto.open(path.join(dir, 'b'));
    const a = c.seal('token-value', 'session:x');
    const b = c.seal('token-value', 'session:x');
    assert.notEqual(a, b);
    assert.equal(a.includes('token-value'), false);
    assert.equal(c.open(a, 'session:x'), 'token-value');
  });

  it('refuses tampered data, another store key (AAD) and another daemon\'s key', async () => {
    const c = await SessionCrypto.open(path.join(dir, 'c'));
    const other = await SessionCrypto.open(path.join(dir, 'd'));
    const sealed = c.seal('{"accessToken":"x"}', 'session:ctx:iss');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    raw[raw.length - 1] ^= 1;
    const tampered = `v1.${raw.toString('base64url')}`;
    const isDataLoss = (e: Error & { code?: string }) => e.code === 'DATA_LOSS' && /log in again/.test(e.message);
    assert.throws(() => c.open(tampered, 'session:ctx:iss'), isDataLoss);
    assert.throws(() => c.open(sealed, 'session:other:iss'), isDataLoss);
    assert.throws(() => other.open(sealed, 'session:ctx:iss'), isDataLoss);
    assert.throws(() => c.open('garbage', 'session:ctx:iss'), isDataLoss);
  });

  it('tightens a key file whose permissions were loosened, and rejects a truncated key', async () => {
    const d = path.join(dir, 'e');
    await SessionCrypto.open(d);
    const file = path.join(d, 'session.key');
    await chmod(file, 0o644);
    const log = new RecordingLogger();
    await SessionCrypto.open(d, log);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(log.lines.join('\n'), /loose permissions/);
    await writeFile(file, Buffer.alloc(5));
    await assert.rejects(SessionCrypto.open(d), (e: Error & { code?: string }) => e.code === 'DATA_LOSS');
  });

  it('stores sessions with tokens sealed and drops one that cannot be decrypted', async () => {
    const state = new MemoryStateStore();
    const kv = state.namespace('auth');
    const log = new RecordingLogger();
    const store = new SessionStore(kv, await SessionCrypto.open(path.join(dir, 'f')), log);
    const s: Session = {
      issuer: 'https://id.example', clientId: 'vmr', username: 'alice', accessToken: 'AT-secret',
      refreshToken: 'RT-secret', idToken: 'ID-secret', tokenType: 'bearer', expiresAt: 123,
    };
    await store.save('session:default:https://id.example', s);
    const dump = JSON.stringify([...state.data.values()]);
    for (const secret of ['AT-secret', 'RT-secret', 'ID-secret']) assert.equal(dump.includes(secret), false);
    assert.ok(dump.includes('alice'), 'metadata stays readable');
    assert.deepEqual(await store.load('session:default:https://id.example'), { ...s, subject: undefined, scope: undefined });

    // A record sealed under this daemon's key but altered is dropped.
    const at = store.storageKey('session:default:https://id.example');
    const rec = await kv.get<{ sealed: string }>(at);
    await kv.set(at, { ...rec, sealed: `${rec!.sealed.slice(0, -4)}AAAA` });
    assert.equal(await store.load('session:default:https://id.example'), undefined);
    assert.equal(await kv.get(at), undefined, 'tampered session removed');
    assert.equal(log.lines.join('\n').includes('secret'), false);
  });

  it('keeps daemons with different key files apart on one state store (issue 15.6)', async () => {
    const state = new MemoryStateStore();
    const kv = state.namespace('auth');
    const log = new RecordingLogger();
    const a = new SessionStore(kv, await SessionCrypto.open(path.join(dir, 'ha')), log);
    const b = new SessionStore(kv, await SessionCrypto.open(path.join(dir, 'hb')), log);
    const key = 'session:default:https://id.example';
    const s = (username: string): Session => ({
      issuer: 'https://id.example', clientId: 'vmr', username, accessToken: `AT-${username}`, tokenType: 'bearer', expiresAt: 1,
    });
    await a.save(key, s('alice'));
    // B cannot read A's session: for B it does not exist, and B must not delete it.
    assert.equal(await b.load(key), undefined);
    assert.equal((await a.load(key))?.accessToken, 'AT-alice');
    // B logging in on the same context and issuer does not overwrite A's; B logging out leaves A's alone.
    await b.save(key, s('bob'));
    assert.equal((await a.load(key))?.accessToken, 'AT-alice');
    assert.equal((await b.load(key))?.accessToken, 'AT-bob');
    await b.delete(key);
    assert.equal((await a.load(key))?.accessToken, 'AT-alice');
    // A daemon with a copy of A's key file shares A's sessions (the documented way to share them).
    const a2 = new SessionStore(kv, await SessionCrypto.open(path.join(dir, 'ha')), log);
    assert.equal((await a2.load(key))?.accessToken, 'AT-alice');
  });

  it('moves a session stored before keys carried the key id, and leaves one it cannot open', async () => {
    const state = new MemoryStateStore();
    const kv = state.namespace('auth');
    const log = new RecordingLogger();
    const crypto = await SessionCrypto.open(path.join(dir, 'ia'));
    const key = 'session:default:https://id.example';
    const legacy = { v: 1, issuer: 'https://id.example', clientId: 'vmr', username: 'alice', tokenType: 'bearer', expiresAt: 1,
      sealed: crypto.seal(JSON.stringify({ accessToken: 'AT-old' }), key) };
    await kv.set(key, legacy);
    const other = new SessionStore(kv, await SessionCrypto.open(path.join(dir, 'ib')), log);
    assert.equal(await other.load(key), undefined);
    assert.ok(await kv.get(key), 'another daemon\'s legacy session is left alone');
    const mine = new SessionStore(kv, crypto, log);
    assert.equal((await mine.load(key))?.accessToken, 'AT-old');
    assert.equal(await kv.get(key), undefined);
    assert.ok(await mine.raw(key));
  });
});
