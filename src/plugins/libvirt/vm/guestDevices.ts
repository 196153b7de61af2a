// The parts of a domain that modern cloud images expect: a real CPU model (x86-64-v2 and later
// baselines), an entropy source, the qemu-guest-agent channel, and a serial console that is both
// attachable (pty) and logged to a file.
import { attr, child, children, el, type XmlElement } from '../xml/index.js';
import type { DomainType } from './domainXml.js';

/** The virtio-serial port name qemu-guest-agent opens in the guest. */
export const GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

/**
 * QEMU's default CPU (qemu64) lacks SSE4.2/POPCNT, so images built for x86-64-v2 (RHEL 9 family,
 * recent Ubuntu userlands) die early. KVM: the host's own CPU. TCG: `maximum` (QEMU's `-cpu max`,
 * libvirt ≥ 7.1), every feature TCG emulates — on QEMU 7.2 that includes AVX2, i.e. x86-64-v3.
 * The test driver gets none: it models no CPUs.
 */
export function cpuElement(type: DomainType, _arch: string): XmlElement | undefined {
  if (type === 'kvm') return el('cpu', { mode: 'host-passthrough', check: 'none', migratable: 'on' });
  if (type === 'qemu') return el('cpu', { mode: 'maximum', match: 'exact' });
  return undefined;
}

/**
 * The first serial port as a pty (so `virsh console` and `vmr console` can attach) whose output
 * libvirt also appends to `logPath` (`vmr logs`); libvirt derives the <console> from it.
 */
export function serialConsole(logPath: string): XmlElement[] {
  return [
    el('serial', { type: 'pty' }, el('log', { file: logPath, append: 'on' }), el('target', { port: 0 })),
    el('console', { type: 'pty' }, el('target', { type: 'serial', port: 0 })),
  ];
}

/** Guest agent channel (libvirt picks the host-side socket) and virtio-rng; none for the test driver. */
export function guestDevices(type: DomainType): XmlElement[] {
  if (type === 'test') return [];
  return [
    el('channel', { type: 'unix' }, el('target', { type: 'virtio', name: GUEST_AGENT_CHANNEL })),
    // Without an entropy device a guest can sit for minutes in early boot waiting for getrandom().
    el('rng', { model: 'virtio' }, el('backend', { model: 'random' }, '/dev/urandom')),
  ];
}

/** What the domain's <devices> say about the console and the agent (older VMs log to a plain file). */
export function consoleFacts(devices: XmlElement | undefined): { console: { pty?: string; logFile?: string }; guestAgent: boolean } {
  const serial = children(devices, 'serial').find((s) => (attr(child(s, 'target'), 'port') ?? '0') === '0');
  const type = attr(serial, 'type');
  const console: { pty?: string; logFile?: string } = {};
  if (type === 'pty') {
    console.pty = attr(child(serial, 'source'), 'path') || attr(serial, 'tty') || undefined;
    console.logFile = attr(child(serial, 'log'), 'file');
  } else if (type === 'file') {
    console.logFile = attr(child(serial, 'source'), 'path');
  }
  const guestAgent = children(devices, 'channel')
    .some((c) => attr(child(c, 'target'), 'name') === GUEST_AGENT_CHANNEL);
  return { console, guestAgent };
}
