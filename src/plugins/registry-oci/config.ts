import type { ConfigSchema } from '../../plugin-api/index.js';
import { DEFAULT_TIMEOUTS, MAX_TIMER_MS } from './timeouts.js';

// A type alias (not an interface) so it fits PluginDefinition's Record<string, unknown> config.
export type RegistryOciConfig = {
  /** Blobs moved at once per pull or push. */
  concurrency: number;
  /** Bytes per PATCH; blobs up to this size are uploaded in one PUT. */
  chunkSize: number;
  /** Auth files to read instead of the docker/podman defaults (empty: defaults). */
  dockerConfigPath: string[];
  /** Extra PEM CA bundle trusted for registries (and token realms). */
  caFile: string;
  /** Attempts after the first on 5xx, 429, 408 and dropped connections. */
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Keep-alive connections per registry. */
  connections: number;
  /** TCP connect + TLS handshake bound per connection. */
  connectTimeoutMs: number;
  /** Wait for a response's headers after the request is sent. */
  headersTimeoutMs: number;
  /** Longest silence inside a response body. */
  bodyTimeoutMs: number;
  /** Bound on one whole pull or push; 0 = only the caller's deadline. */
  operationTimeoutMs: number;
};

export const configSchema: ConfigSchema = {
  type: 'object',
  properties: {
    concurrency: { type: 'integer', minimum: 1, maximum: 64, default: 4, description: 'blobs transferred in parallel' },
    chunkSize: { type: 'integer', minimum: 1024 * 1024, default: 64 * 1024 * 1024, description: 'bytes per chunked-upload PATCH; smaller blobs use one PUT' },
    dockerConfigPath: { type: 'array', items: { type: 'string' }, default: [], description: 'auth files (docker config.json / containers auth.json) to read instead of the defaults' },
    caFile: { type: 'string', default: '', description: 'PEM bundle of extra CAs for registry TLS' },
    retries: { type: 'integer', minimum: 0, maximum: 20, default: 5, description: 'retries on 5xx, 429, 408 and dropped connections' },
    minBackoffMs: { type: 'integer', minimum: 1, default: 200 },
    maxBackoffMs: { type: 'integer', minimum: 1, default: 3000 },
    connections: { type: 'integer', minimum: 1, default: 16, description: 'keep-alive connections per registry' },
    connectTimeoutMs: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: DEFAULT_TIMEOUTS.connectTimeoutMs, description: 'TCP connect + TLS handshake, per connection' },
    headersTimeoutMs: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: DEFAULT_TIMEOUTS.headersTimeoutMs, description: 'wait for response headers after a request is sent' },
    bodyTimeoutMs: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: DEFAULT_TIMEOUTS.bodyTimeoutMs, description: 'longest silence while a response body arrives' },
    operationTimeoutMs: { type: 'integer', minimum: 0, maximum: MAX_TIMER_MS, default: DEFAULT_TIMEOUTS.operationTimeoutMs, description: 'bound on one whole pull or push, retries included (0: none besides the caller\'s deadline)' },
  },
};

export const defaultConfig: RegistryOciConfig = {
  concurrency: 4, chunkSize: 64 * 1024 * 1024, dockerConfigPath: [], caFile: '', retries: 5,
  minBackoffMs: 200, maxBackoffMs: 3000, connections: 16, ...DEFAULT_TIMEOUTS,
};
