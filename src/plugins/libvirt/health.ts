// Health of a libvirt-backed component: versions when the daemon answers, the reason when not.
import { type CallContext, type ComponentHealth, isVmrError } from '../../plugin-api/index.js';
import { formatVersion, type LibvirtClient } from './rpc/index.js';

/** `client` may be a thunk so that a bad context URI is reported as NOT_SERVING, not thrown. */
export async function libvirtHealth(
  name: string,
  client: LibvirtClient | (() => LibvirtClient),
  ctx: CallContext,
): Promise<ComponentHealth> {
  const t0 = performance.now();
  const opts = { signal: ctx.signal, timeoutMs: 5000 };
  let c: LibvirtClient;
  try {
    c = typeof client === 'function' ? client() : client;
  } catch (err) {
    return { name, status: 'NOT_SERVING', message: (err as Error).message, latencyMs: 0 };
  }
  return probe(name, c, opts, t0);
}

async function probe(name: string, client: LibvirtClient, opts: { signal: AbortSignal; timeoutMs: number }, t0: number): Promise<ComponentHealth> {
  try {
    const [lib, hv, type] = await Promise.all([
      client.getLibVersion(opts),
      client.getVersion(opts),
      client.getType(opts),
    ]);
    return {
      name,
      status: 'SERVING',
      message: `libvirt ${formatVersion(lib)}, ${type} ${formatVersion(hv)} at ${client.uri}`,
      latencyMs: Math.round(performance.now() - t0),
      details: {
        uri: client.uri,
        libvirtVersion: formatVersion(lib),
        hypervisor: type,
        hypervisorVersion: formatVersion(hv),
      },
    };
  } catch (err) {
    return {
      name,
      status: 'NOT_SERVING',
      message: isVmrError(err) ? err.message : `libvirt at ${client.uri}: ${(err as Error).message}`,
      latencyMs: Math.round(performance.now() - t0),
      details: { uri: client.uri },
    };
  }
}
