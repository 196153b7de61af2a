// SSH keys by default: the keys a client sends are merged into the user's own user-data, never
// replacing it. A #cloud-config document gains them under `ssh_authorized_keys` (comments and
// everything else kept); any other user-data (a script, #include, a MIME archive) becomes one part
// of a MIME multi-part archive next to a small #cloud-config part, which cloud-init runs both of.
import { randomBytes } from 'node:crypto';
import { isMap, isSeq, parseDocument } from 'yaml';
import { InvalidArgumentError } from '../errors.js';
import type { CloudInit, CloudInitSummary } from '../ports/hypervisor.js';

const MAX_KEYS = 32;
const MAX_KEY_BYTES = 16 * 1024;
// OpenSSH authorized_keys line without options: type, base64 blob, optional comment.
const KEY_RE = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

/** Trimmed, de-duplicated keys; INVALID_ARGUMENT naming the index (never the key) for a bad one. */
export function checkSshKeys(keys: readonly unknown[] | undefined, field = 'options.ssh_authorized_keys'): string[] {
  const list = (keys ?? []).map((k) => (typeof k === 'string' ? k.trim() : k)).filter((k) => k !== '');
  if (list.length > MAX_KEYS) throw new InvalidArgumentError(`at most ${MAX_KEYS} SSH keys, got ${list.length}`, { field });
  list.forEach((k, i) => {
    if (typeof k !== 'string' || Buffer.byteLength(k) > MAX_KEY_BYTES || !KEY_RE.test(k)) {
      throw new InvalidArgumentError(
        `${field}[${i}] is not an OpenSSH public key line ("type base64 comment"); give the .pub file's contents`,
        { field: `${field}[${i}]` });
    }
  });
  return [...new Set(list as string[])];
}

export function userDataKind(userData: string | undefined): CloudInitSummary['userDataKind'] {
  if (!userData || !userData.trim()) return 'none';
  const first = userData.trimStart().split('\n', 1)[0].trim().toLowerCase();
  if (first.startsWith('#cloud-config')) return 'cloud-config';
  if (first.startsWith('#!')) return 'script';
  if (isMime(userData)) return 'multipart';
  return 'other';
}

function isMime(userData: string): boolean {
  const head = userData.split(/\r?\n\r?\n/, 1)[0];
  return /^content-type:\s*multipart\//im.test(head);
}

/** The seed to write and what inspect may tell about it. `root` allows root logins for root-default images. */
export function withSshKeys(ci: CloudInit | undefined, keys: string[], opts: { rootLogin: boolean }): {
  cloudInit: CloudInit | undefined;
  summary: CloudInitSummary;
} {
  const kind = userDataKind(ci?.userData);
  const userData = keys.length ? mergeKeys(ci?.userData, kind, keys, opts.rootLogin) : ci?.userData;
  const cloudInit = userData || ci?.metaData || ci?.networkConfig ? { ...ci, userData } : ci;
  return {
    cloudInit,
    summary: {
      userDataKind: keys.length && kind === 'none' ? 'cloud-config' : kind,
      userDataBytes: Buffer.byteLength(userData ?? ''),
      sshAuthorizedKeys: keys.length,
      metaData: Boolean(ci?.metaData),
      networkConfig: Boolean(ci?.networkConfig),
    },
  };
}

function keysConfig(keys: string[], rootLogin: boolean): string {
  const lines = ['#cloud-config', 'ssh_authorized_keys:', ...keys.map((k) => `  - ${JSON.stringify(k)}`)];
  if (rootLogin) lines.push('disable_root: false');
  return lines.join('\n') + '\n';
}

function mergeKeys(userData: string | undefined, kind: CloudInitSummary['userDataKind'], keys: string[], rootLogin: boolean): string {
  if (kind === 'none') return keysConfig(keys, rootLogin);
  if (kind === 'cloud-config') {
    const merged = mergeIntoCloudConfig(userData!, keys, rootLogin);
    if (merged !== undefined) return merged;
    // Not a YAML mapping we can edit safely: keep it byte for byte in its own part.
  }
  return multipart(userData!, kind, keysConfig(keys, rootLogin));
}

function mergeIntoCloudConfig(userData: string, keys: string[], rootLogin: boolean): string | undefined {
  const doc = parseDocument(userData, { keepSourceTokens: false });
  if (doc.errors.length) return undefined;
  if (doc.contents === null) return keysConfig(keys, rootLogin);
  if (!isMap(doc.contents)) return undefined;
  const existing = doc.get('ssh_authorized_keys');
  if (existing === undefined || existing === null) {
    doc.set('ssh_authorized_keys', keys);
  } else if (isSeq(existing)) {
    const have = new Set(existing.items.map((i) => String((i as { value?: unknown }).value ?? i).trim()));
    for (const k of keys) if (!have.has(k)) existing.add(k);
  } else {
    return undefined;
  }
  if (rootLogin && !doc.has('disable_root')) doc.set('disable_root', false);
  // lineWidth 0: a key must stay on one line (authorized_keys reads one key per line).
  const out = doc.toString({ lineWidth: 0 });
  // cloud-init recognises the format only by this first line.
  return out.startsWith('#cloud-config') ? out : `#cloud-config\n${out}`;
}

function multipart(original: string, kind: CloudInitSummary['userDataKind'], keysPart: string): string {
  const boundary = `==vmr-${randomBytes(12).toString('hex')}==`;
  // text/plain parts are typed by cloud-init from their first line (#!, #include, #cloud-boothook …);
  // a MIME archive keeps its own headers and is walked as a nested multipart.
  const originalPart = kind === 'multipart'
    ? original
    : `Content-Type: text/plain; charset="utf-8"\nContent-Disposition: attachment; filename="user-data"\n\n${original}`;
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    `--${boundary}`,
    'Content-Type: text/cloud-config; charset="utf-8"',
    'Content-Disposition: attachment; filename="vmr-ssh-keys.cfg"',
    '',
    keysPart,
    `--${boundary}`,
    originalPart.endsWith('\n') ? originalPart.slice(0, -1) : originalPart,
    `--${boundary}--`,
    '',
  ].join('\n');
}

/**
 * The user `vmr ssh` logs in as: the VMFile's spec.os.default_user, else guessed from the image's
 * name (Debian and Ubuntu cloud images name their default user after the distribution), else root.
 */
export function defaultUserFor(vmfile: { metadata: { name: string; description?: string }; spec: { os: { defaultUser?: string } } }, reference: string): string {
  if (vmfile.spec.os.defaultUser) return vmfile.spec.os.defaultUser;
  const hay = `${vmfile.metadata.name} ${reference}`.toLowerCase();
  if (/ubuntu/.test(hay)) return 'ubuntu';
  if (/debian/.test(hay)) return 'debian';
  return 'root';
}
