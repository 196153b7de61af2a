// The start of every libvirt connection: authentication (none or polkit; SASL is refused with a clear
// message), the keepalive feature, then CONNECT_OPEN of the URI's driver.
import { PermissionDeniedError } from '../../../plugin-api/index.js';
import { AUTH_TYPE_LIST_MAX, AuthType, Feature, Proc } from './constants.js';
import type { CallOptions, RpcConnection } from './RpcConnection.js';
import { wOptStr } from './types.js';
import type { LibvirtUri } from './uri.js';
import { XdrReader, XdrWriter } from './xdr.js';

export interface HandshakeOptions {
  /** The URI as configured (for messages). */
  uri: string;
  /** Ask for the keepalive feature (the daemon then pings us and drops us when we go silent). */
  keepalive: boolean;
  readOnly: boolean;
}

export async function handshake(conn: RpcConnection, target: LibvirtUri, how: HandshakeOptions, opts: CallOptions): Promise<void> {
  // AUTH_LIST must come first: on a polkit socket every other call fails until it has run.
  const authTypes = new XdrReader(await conn.call(Proc.AUTH_LIST, undefined, 'list auth types', opts))
    .array((r) => r.int(), AUTH_TYPE_LIST_MAX);
  if (authTypes.length > 0 && !authTypes.includes(AuthType.NONE)) {
    if (!authTypes.includes(AuthType.POLKIT)) {
      throw new PermissionDeniedError(
        `libvirtd at ${how.uri} requires SASL authentication, which vmregistry does not support; ` +
          `connect as root or configure auth_unix_rw = "polkit"/"none"`,
      );
    }
    let complete = false;
    try {
      complete = new XdrReader(await conn.call(Proc.AUTH_POLKIT, undefined, 'polkit authentication', opts)).int() !== 0;
    } catch (err) {
      throw new PermissionDeniedError(
        `libvirtd at ${how.uri} refused this user (polkit): ${(err as Error).message}; ` +
          `run as root or add the user to group "libvirt"`,
        { cause: err },
      );
    }
    if (!complete) throw new PermissionDeniedError(`polkit did not authorise this user for libvirtd at ${how.uri}`);
  }
  if (how.keepalive) {
    // Asking for the keepalive feature makes the daemon ping us too and drop us if we go silent.
    await conn
      .call(Proc.CONNECT_SUPPORTS_FEATURE, new XdrWriter(8).int(Feature.PROGRAM_KEEPALIVE).toBuffer(), 'enable keepalive', opts)
      .catch(() => undefined);
  }
  const w = new XdrWriter();
  wOptStr(w, target.openUri);
  w.uint(how.readOnly ? 1 : 0);
  await conn.call(Proc.CONNECT_OPEN, w.toBuffer(), `open ${target.openUri}`, opts);
}
