// The libvirt remote-protocol client: everything other parts of the plugin may import.
export { LibvirtClient, type LibvirtClientOptions, type ConnectionState, type EventSubscription } from './LibvirtClient.js';
export { LibvirtConnectionManager } from './ConnectionManager.js';
export type { CallOptions } from './RpcConnection.js';
export { RpcConnection } from './RpcConnection.js';
export * from './constants.js';
export * from './events.js';
export * from './types.js';
export { parseLibvirtUri, type LibvirtUri, type Transport } from './uri.js';
export { dial, dialUnix, dialSsh, sshArgs, type Dialer, type DialOptions } from './transports.js';
export { decodeRemoteError, toVmrError, libvirtCode, type RemoteError, type LibvirtErrorDetails, type LibvirtVmrError } from './errors.js';
export { XdrReader, XdrWriter, XdrError } from './xdr.js';
export { PacketFramer, encodePacket, decodePacket, REMOTE_PROGRAM, KEEPALIVE_PROGRAM, QEMU_PROGRAM } from './packet.js';
export { qemuAgentCommand } from './qemuAgent.js';
