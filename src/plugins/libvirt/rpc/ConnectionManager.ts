// One shared, self-reconnecting LibvirtClient per URI. Contexts switch URIs per call, so clients are
// created lazily and kept until the manager closes.
import { UnavailableError } from '../../../core/errors.js';
import { LibvirtClient, type LibvirtClientOptions } from './LibvirtClient.js';
import { parseLibvirtUri } from './uri.js';

export class LibvirtConnectionManager {
  private readonly clients = new Map<string, LibvirtClient>();
  private closed = false;

  constructor(private readonly opts: LibvirtClientOptions = {}) {}

  /**
   * The shared client for `uri` (created and connecting in the background on first use). Calls on
   * it wait for a connection attempt in flight and fail UNAVAILABLE while libvirtd is down.
   * Throws InvalidArgumentError for a malformed URI.
   */
  get(uri: string): LibvirtClient {
    if (this.closed) throw new UnavailableError('the libvirt connection manager is shut down');
    const key = uri.trim();
    let c = this.clients.get(key);
    if (!c) {
      parseLibvirtUri(key);
      c = LibvirtClient.create(key, { ...this.opts, reconnect: true });
      this.clients.set(key, c);
    }
    return c;
  }

  /** URIs with a client. */
  uris(): string[] {
    return [...this.clients.keys()];
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}
