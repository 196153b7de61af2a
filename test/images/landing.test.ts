import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Landing } from '../../src/core/images/spool.js';

const settled = async (p: Promise<unknown>) => {
  let state = 'pending';
  p.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  await new Promise((r) => setImmediate(r));
  return state;
};

describe('Landing (how much of a spooled file can be read)', () => {
  it('a reader waits until its range has landed, and not longer', async () => {
    const l = new Landing();
    const a = l.until(10);
    const b = l.until(20);
    l.reach(15);
    assert.equal(await settled(a), 'resolved');
    assert.equal(await settled(b), 'pending');
    l.reach(20);
    assert.equal(await settled(b), 'resolved');
    assert.equal(await settled(l.until(5)), 'resolved', 'a range already in the file');
  });

  it('a failed stream rejects every reader, waiting or later, with its error', async () => {
    const l = new Landing();
    const waiting = l.until(10);
    const err = new Error('the client went away');
    l.fail(err);
    await assert.rejects(waiting, err);
    await assert.rejects(l.until(1), err);
    l.fail(new Error('second')); // the first failure stays the one reported
    await assert.rejects(l.until(1), err);
  });

  it('a reader whose signal fires stops waiting with its reason; the others go on', async () => {
    const l = new Landing();
    const ac = new AbortController();
    const gone = l.until(10, ac.signal);
    const stays = l.until(10);
    ac.abort(new Error('window cancelled'));
    await assert.rejects(gone, /window cancelled/);
    l.reach(10);
    assert.equal(await settled(stays), 'resolved');
    await assert.rejects(l.until(20, ac.signal), /window cancelled/, 'an already fired signal');
  });
});
