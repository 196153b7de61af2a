import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { checkSshKeys, defaultUserFor, userDataKind, withSshKeys } from '../../src/core/vms/cloudInitKeys.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZtcnRlc3RrZXlub3RyZWFsbHl1c2VkZm9yYW55dGhpbmcxMjM0NTY3ODkw alice@laptop with a long comment';
const KEY2 = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= bob';
const noRoot = { rootLogin: false };

test('no user-data: a #cloud-config with the key', () => {
  const { cloudInit, summary } = withSshKeys(undefined, [KEY], noRoot);
  assert.match(cloudInit!.userData!, /^#cloud-config\n/);
  assert.deepEqual(parse(cloudInit!.userData!).ssh_authorized_keys, [KEY]);
  assert.equal(summary.userDataKind, 'cloud-config');
  assert.equal(summary.sshAuthorizedKeys, 1);
});

test('#cloud-config is merged: comments, other keys and existing keys kept; a long key stays on one line', () => {
  const user = `#cloud-config\n# keep me\npackages: [htop]\nssh_authorized_keys:\n  - ${KEY2}\nruncmd:\n  - echo hi # inline\n`;
  const ud = withSshKeys({ userData: user, metaData: 'instance-id: x' }, [KEY, KEY2], noRoot).cloudInit!;
  assert.match(ud.userData!, /^#cloud-config\n# keep me\n/);
  assert.ok(ud.userData!.includes('# inline'));
  assert.ok(ud.userData!.split('\n').some((l) => l.trim() === `- ${KEY}`), `one line:\n${ud.userData}`);
  const doc = parse(ud.userData!);
  assert.deepEqual(doc.ssh_authorized_keys, [KEY2, KEY], 'appended once, not duplicated');
  assert.deepEqual(doc.packages, ['htop']);
  assert.equal(ud.metaData, 'instance-id: x');
});

test('a script is never replaced: a MIME multi-part with the keys part and the script byte for byte', () => {
  const script = '#!/bin/sh\necho "--not-a-boundary"\nexit 0\n';
  const ud = withSshKeys({ userData: script }, [KEY], noRoot).cloudInit!.userData!;
  const boundary = /boundary="([^"]+)"/.exec(ud)![1];
  assert.ok(!script.includes(boundary));
  const parts = ud.split(`--${boundary}`);
  assert.equal(parts.at(-1)!.trim(), '--', 'closing boundary');
  const [head, keysPart, scriptPart] = parts;
  assert.match(head, /^Content-Type: multipart\/mixed/);
  assert.match(keysPart, /Content-Type: text\/cloud-config/);
  assert.deepEqual(parse(keysPart.split('\n\n').slice(1).join('\n\n')).ssh_authorized_keys, [KEY]);
  assert.ok(scriptPart.endsWith(`\n\n${script}`), `script kept as is:\n${scriptPart}`);
  assert.equal(userDataKind(ud), 'multipart');
});

test('other user-data kinds and a cloud-config that is not a mapping go to a multi-part too', () => {
  for (const user of ['#include\nhttps://example.com/ud\n', '#cloud-config\n- just a list\n', '#cloud-config\nssh_authorized_keys: not-a-list\n']) {
    const ud = withSshKeys({ userData: user }, [KEY], noRoot).cloudInit!.userData!;
    assert.match(ud, /^Content-Type: multipart\/mixed/, user);
    assert.ok(ud.includes(user), user);
  }
});

test('no keys: user-data untouched', () => {
  const user = '#cloud-config\n# exactly this\n';
  assert.equal(withSshKeys({ userData: user }, [], noRoot).cloudInit!.userData, user);
  assert.equal(withSshKeys(undefined, [], noRoot).cloudInit, undefined);
});

test('root images allow root logins only when the user did not decide', () => {
  assert.equal(parse(withSshKeys(undefined, [KEY], { rootLogin: true }).cloudInit!.userData!).disable_root, false);
  const mine = withSshKeys({ userData: '#cloud-config\ndisable_root: true\n' }, [KEY], { rootLogin: true }).cloudInit!.userData!;
  assert.equal(parse(mine).disable_root, true);
});

test('bad keys are refused by index, without echoing them; duplicates and blanks dropped', () => {
  assert.deepEqual(checkSshKeys([KEY, ` ${KEY} `, '']), [KEY]);
  for (const bad of ['not a key', `${KEY}\nssh-rsa AAAA injected`, 'ssh-ed25519', 42]) {
    assert.throws(() => checkSshKeys([KEY, bad]), (err: Error & { code?: string; field?: string }) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.field, 'options.ssh_authorized_keys[1]');
      assert.ok(!err.message.includes('AAAA'), err.message);
      return true;
    });
  }
  assert.throws(() => checkSshKeys(Array.from({ length: 40 }, (_, i) => `${KEY}${i}`)), /at most/);
});

test('default user: the VMFile says, else guessed from the image name, else root', () => {
  const vf = (name: string, defaultUser?: string) => ({ metadata: { name }, spec: { os: { defaultUser } } });
  assert.equal(defaultUserFor(vf('debian-12', 'admin'), 'x:1'), 'admin');
  assert.equal(defaultUserFor(vf('debian-12'), 'localhost:5000/os:1'), 'debian');
  assert.equal(defaultUserFor(vf('img'), 'ubuntu:24.04'), 'ubuntu');
  assert.equal(defaultUserFor(vf('alpine'), 'alpine:3'), 'root');
});
