// QEMU_PROC_DOMAIN_AGENT_COMMAND (qemu_protocol.x, procedure 3 of the QEMU program): one JSON command
// to the domain's qemu-guest-agent, its JSON reply back. libvirt answers AGENT_UNRESPONSIVE
// (→ UNAVAILABLE) while the agent is not connected, e.g. during boot.
import type { LibvirtClient } from './LibvirtClient.js';
import { QEMU_PROGRAM } from './packet.js';
import type { CallOptions } from './RpcConnection.js';
import { optStr, writeDomain, wStr, type DomainRef } from './types.js';
import { XdrReader, XdrWriter } from './xdr.js';

const QEMU_PROC_DOMAIN_AGENT_COMMAND = 3;

/** `timeoutSeconds`: how long libvirt waits for the agent (it also bounds our call, plus slack). */
export async function qemuAgentCommand(client: LibvirtClient, dom: DomainRef, command: object, timeoutSeconds: number,
  opts: CallOptions = {}): Promise<unknown> {
  const w = new XdrWriter();
  writeDomain(w, dom);
  wStr(w, JSON.stringify(command));
  w.int(Math.max(1, Math.ceil(timeoutSeconds)));
  w.uint(0);
  const what = `guest agent command ${(command as { execute?: string }).execute ?? ''} on domain "${dom.name}"`;
  const payload = await client.call(QEMU_PROC_DOMAIN_AGENT_COMMAND, w.toBuffer(), what,
    { timeoutMs: timeoutSeconds * 1000 + 10_000, ...opts, program: QEMU_PROGRAM });
  const r = new XdrReader(payload);
  const text = optStr(r);
  r.end();
  return text ? JSON.parse(text) : undefined;
}
