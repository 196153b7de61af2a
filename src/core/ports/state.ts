/** A namespaced key-value store (keyv underneath: SQLite by default, Postgres/Redis when configured). */
export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Keys of this namespace, optionally filtered by prefix. */
  keys(prefix?: string): Promise<string[]>;
}

/** Port `vmregistry.state.v1`, provided by the core. */
export interface StateStore {
  namespace(name: string): KeyValueStore;
}

/** Port `vmregistry.contexts.v1`, provided by the core (read-only view for plugins). */
export interface ContextReader {
  current(): Promise<import('./common.js').ContextInfo>;
  get(name: string): Promise<import('./common.js').ContextInfo>;
  /** Every context (optional for fakes); GC uses it to see the VMs of every libvirt URI in use. */
  list?(): Promise<{ contexts: import('./common.js').ContextInfo[]; current: string }>;
}
