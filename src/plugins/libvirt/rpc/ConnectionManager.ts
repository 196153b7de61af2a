// One shared, self-reconnecting LibvirtClient per URI. Contexts switch URIs per call, so clients are
// created lazily and kept until the manager closes.
import { UnavailableError } from '../../../plugin-api/index.js';
import { LibvirtClient, type LibvirtClientOptions } from './LibvirtClient.js';
import { parseLibvirtUri } from './uri.js';

export class LibvirtConnectionManager {
  private readonly clients = new Map<string, LibvirtClient>();
  private closed = false;

  constructor(private readonly opts: LibvirtClientOptions & {
    /** Runs before a client for a new URI is made; throws to refuse the URI (the plugin's URI policy). */
    checkUri?: (uri: string) => void;
  } = {}) {}

  /**
   * The shared client for `uri` (created and connecting in the background on first use). Calls on
   * it wait for a connection attempt in flight and fail UNAVAILABLE while libvirtd is down.
   * Throws InvalidArgumentError for a malformed URI or one `checkUri` refuses.
   */
  get(uri: string): LibvirtClient {
    if (this.closed) throw new UnavailableError('the libvirt connection manager is shut down');
    const key = uri.trim();
    let c = this.clients.get(key);
    if (!c) {
      parseLibvirtUri(key);
      this.opts.checkUri?.(key);
      const { checkUri: _checkUri, ...clientOpts } = this.opts;
      c = LibvirtClient.create(key, { ...clientOpts, reconnect: true });
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
