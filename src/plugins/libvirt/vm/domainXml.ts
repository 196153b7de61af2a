// Domain XML for a vmregistry VM, and the facts we read back from a domain's XML.
import type { VMDisk, VMNetwork } from '../../../core/ports/hypervisor.js';
import { attr, child, children, el, find, parseXml, text, toXml } from '../xml/index.js';
import { findMetadata, metadataElement, parseMetadata, type VmMetadata } from './vmMetadata.js';
import { consoleFacts, cpuElement, guestDevices, serialConsole } from './guestDevices.js';

export type DomainType = 'kvm' | 'qemu' | 'test';

export interface DomainSpec {
  name: string;
  uuid: string;
  type: DomainType;
  memoryMb: number;
  vcpuCount: number;
  /** libvirt's arch name, e.g. x86_64, aarch64. */
  arch: string;
  firmware: 'bios' | 'uefi';
  overlayPath: string;
  seedPath?: string;
  consolePath: string;
  networkName: string;
  /** Absent: libvirt generates one. */
  macAddress?: string;
  metadata: VmMetadata;
}

/** Image architectures as OCI/Debian name them → libvirt's names. */
export function libvirtArch(arch: string): string {
  const a = arch.trim().toLowerCase();
  return ({ amd64: 'x86_64', x86_64: 'x86_64', arm64: 'aarch64', aarch64: 'aarch64' } as Record<string, string>)[a] ?? a;
}

export function buildDomainXml(s: DomainSpec): string {
  const dom = el(
    'domain',
    { type: s.type },
    el('name', {}, s.name),
    el('uuid', {}, s.uuid),
    el('metadata', {}, metadataElement(s.metadata)),
    el('memory', { unit: 'MiB' }, String(s.memoryMb)),
    el('vcpu', {}, String(s.vcpuCount)),
    cpuElement(s.type, s.arch),
    el(
      'os',
      s.firmware === 'uefi' ? { firmware: 'efi' } : {},
      el('type', { arch: s.arch }, 'hvm'),
      el('boot', { dev: 'hd' }),
    ),
    // ACPI is what a graceful stop presses the power button through.
    el('features', {}, el('acpi'), s.arch === 'x86_64' ? el('apic') : undefined),
    el('on_poweroff', {}, 'destroy'),
    el('on_reboot', {}, 'restart'),
    el('on_crash', {}, 'destroy'),
    el(
      'devices',
      {},
      el(
        'disk',
        { type: 'file', device: 'disk' },
        el('driver', { name: 'qemu', type: 'qcow2', discard: 'unmap' }),
        el('source', { file: s.overlayPath }),
        el('target', { dev: 'vda', bus: 'virtio' }),
      ),
      s.seedPath
        ? el(
            'disk',
            { type: 'file', device: 'cdrom' },
            el('driver', { name: 'qemu', type: 'raw' }),
            el('source', { file: s.seedPath }),
            el('target', { dev: 'sda', bus: 'sata' }),
            el('readonly'),
          )
        : undefined,
      el(
        'interface',
        { type: 'network' },
        s.macAddress ? el('mac', { address: s.macAddress }) : undefined,
        el('source', { network: s.networkName }),
        el('model', { type: 'virtio' }),
      ),
      ...serialConsole(s.consolePath),
      ...guestDevices(s.type),
    ),
  );
  return toXml(dom);
}

/** What we read back from a domain's XML. */
export interface DomainFacts {
  name: string;
  uuid: string;
  memoryMb: number;
  vcpuCount: number;
  interfaces: Omit<VMNetwork, 'ipAddresses'>[];
  /** Files of the domain's disks (overlay, seed). */
  diskFiles: string[];
  disks: VMDisk[];
  /** Undefined when the domain is not one of ours. */
  metadata?: VmMetadata;
  /** The serial console: its pty (live XML of a running VM) and the file it is logged to. */
  console: { pty?: string; logFile?: string };
  /** True when the domain has the qemu-guest-agent channel. */
  guestAgent: boolean;
}

export function parseDomainXml(xml: string): DomainFacts {
  const root = parseXml(xml);
  const mem = find(root, 'memory');
  const interfaces = children(find(root, 'devices'), 'interface').map((i) => {
    const src = child(i, 'source');
    const type = attr(i, 'type') ?? '';
    return {
      name: attr(src, 'network') ?? attr(src, 'bridge') ?? attr(src, 'dev') ?? type,
      mac: (attr(child(i, 'mac'), 'address') ?? '').toLowerCase(),
      interfaceType: type,
    };
  });
  const diskFiles = children(find(root, 'devices'), 'disk')
    .map((d) => attr(child(d, 'source'), 'file'))
    .filter((f): f is string => !!f);
  const disks = children(find(root, 'devices'), 'disk').map((d) => ({
    target: attr(child(d, 'target'), 'dev') ?? '',
    device: attr(d, 'device') ?? 'disk',
    path: attr(child(d, 'source'), 'file') ?? '',
    format: attr(child(d, 'driver'), 'type') ?? '',
    backingPath: attr(child(child(d, 'backingStore'), 'source'), 'file'),
  }));
  const found = findMetadata(find(root, 'metadata'));
  return {
    name: text(find(root, 'name')),
    uuid: text(find(root, 'uuid')),
    memoryMb: Math.round(toKiB(Number(text(mem)), attr(mem, 'unit') ?? 'KiB') / 1024),
    vcpuCount: Number(text(find(root, 'vcpu'))) || 0,
    interfaces,
    diskFiles,
    disks,
    metadata: found ? parseMetadata(found) : undefined,
    ...consoleFacts(find(root, 'devices')),
  };
}

function toKiB(n: number, unit: string): number {
  const u = unit.toLowerCase();
  const mul: Record<string, number> = {
    b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024,
    g: 1024 ** 2, gib: 1024 ** 2, gb: 1e9 / 1024,
  };
  return n * (mul[u] ?? 1);
}
