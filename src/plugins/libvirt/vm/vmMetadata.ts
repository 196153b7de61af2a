// The daemon's own record of a VM, kept inside the domain's <metadata> under our XML namespace so
// that a restarted daemon (or another host's daemon on a remote URI) reads the truth from libvirt.
// A domain without this element was not created by vmregistry and is never listed or touched.
//
// Only the root element carries the namespace: libvirt strips namespaces below the root when it
// stores metadata set through virDomainSetMetadata, so children are unprefixed everywhere.
import type { CloudInitSummary, ComposeLabel } from '../../../plugin-api/index.js';
import { attr, children, el, text, toXml, type XmlElement } from '../xml/index.js';

export const VM_XMLNS = 'https://vmregistry.io/xmlns/vm/v1';
/** The prefix we write; when reading, whatever prefix libvirt kept for our namespace is accepted. */
export const VM_XMLNS_PREFIX = 'vmr';

export interface VmMetadata {
  image: string;
  imageDigest: string;
  /** RFC 3339. */
  created: string;
  /** RFC 3339; only in the live definition, written at each start by this daemon. */
  startedAt?: string;
  ephemeral: boolean;
  /** Directory holding the overlay, seed and console log; removed with the VM. */
  filesDir: string;
  labels: Record<string, string>;
  compose?: ComposeLabel;
  /** User `vmr ssh` logs in as. */
  defaultUser?: string;
  /** What the cloud-init seed held (never its contents). */
  cloudInit?: CloudInitSummary;
}

function body(m: VmMetadata): XmlElement[] {
  return [
    el('image', { reference: m.image, digest: m.imageDigest }),
    el('created', {}, m.created),
    m.startedAt ? el('started', {}, m.startedAt) : undefined,
    el('ephemeral', {}, String(m.ephemeral)),
    el('files', { dir: m.filesDir }),
    el('labels', {}, Object.entries(m.labels).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => el('label', { key: k, value: v }))),
    m.compose
      ? el('compose', {
          project: m.compose.project,
          service: m.compose.service,
          index: m.compose.index,
          hash: m.compose.hash,
        })
      : undefined,
    m.defaultUser ? el('user', { name: m.defaultUser }) : undefined,
    m.cloudInit
      ? el('cloudinit', {
          'user-data-kind': m.cloudInit.userDataKind,
          'user-data-bytes': m.cloudInit.userDataBytes,
          'ssh-keys': m.cloudInit.sshAuthorizedKeys,
          'meta-data': m.cloudInit.metaData,
          'network-config': m.cloudInit.networkConfig,
        })
      : undefined,
  ].filter((e): e is XmlElement => e !== undefined);
}

/** The element placed in a new domain's <metadata>, declaring our namespace on itself. */
export function metadataElement(m: VmMetadata): XmlElement {
  return el(`${VM_XMLNS_PREFIX}:vm`, { [`xmlns:${VM_XMLNS_PREFIX}`]: VM_XMLNS }, body(m));
}

/** The same record as virDomainSetMetadata wants it: no namespace (libvirt adds prefix and URI). */
export function metadataForSet(m: VmMetadata): string {
  return toXml(el('vm', {}, body(m)));
}

/** Finds our element among the children of a domain's <metadata>; undefined when it is not ours. */
export function findMetadata(metadata: XmlElement | undefined): XmlElement | undefined {
  for (const c of children(metadata)) {
    const colon = c.name.indexOf(':');
    const prefix = colon >= 0 ? c.name.slice(0, colon) : '';
    const declared = prefix ? c.attrs[`xmlns:${prefix}`] : c.attrs.xmlns;
    if (declared === VM_XMLNS && c.name.slice(colon + 1) === 'vm') return c;
  }
  return undefined;
}

const localName = (n: string) => n.slice(n.indexOf(':') + 1);

/** Parses our element (as returned by findMetadata); undefined when it lacks what every record has. */
export function parseMetadata(root: XmlElement): VmMetadata | undefined {
  const all = (n: string) => children(root).filter((c) => localName(c.name) === n);
  const one = (n: string) => all(n)[0];
  const image = one('image');
  const created = text(one('created'));
  const filesDir = attr(one('files'), 'dir');
  if (!image || !created || !filesDir) return undefined;
  const labels: Record<string, string> = {};
  for (const l of children(one('labels')).filter((c) => localName(c.name) === 'label')) {
    const k = attr(l, 'key');
    if (k !== undefined) labels[k] = attr(l, 'value') ?? '';
  }
  const c = one('compose');
  const compose: ComposeLabel | undefined = c
    ? {
        project: attr(c, 'project') ?? '',
        service: attr(c, 'service') ?? '',
        index: Number(attr(c, 'index') ?? 0),
        hash: attr(c, 'hash') ?? '',
      }
    : undefined;
  const started = text(one('started'));
  const ci = one('cloudinit');
  const cloudInit: CloudInitSummary | undefined = ci
    ? {
        userDataKind: (attr(ci, 'user-data-kind') ?? 'other') as CloudInitSummary['userDataKind'],
        userDataBytes: Number(attr(ci, 'user-data-bytes') ?? 0) || 0,
        sshAuthorizedKeys: Number(attr(ci, 'ssh-keys') ?? 0) || 0,
        metaData: attr(ci, 'meta-data') === 'true',
        networkConfig: attr(ci, 'network-config') === 'true',
      }
    : undefined;
  return {
    image: attr(image, 'reference') ?? '',
    imageDigest: attr(image, 'digest') ?? '',
    created,
    startedAt: started || undefined,
    ephemeral: text(one('ephemeral')) === 'true',
    filesDir,
    labels,
    compose,
    ...(attr(one('user'), 'name') ? { defaultUser: attr(one('user'), 'name') } : {}),
    ...(cloudInit ? { cloudInit } : {}),
  };
}
