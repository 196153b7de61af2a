// An in-memory StateStore for plugin tests (the daemon's is keyv over SQLite). Strict about TTLs so the
// device-flow bookkeeping's expiry is honoured as the real store would.
import type { KeyValueStore, StateStore } from '../../../src/core/ports/state.js';

export class MemoryStateStore implements StateStore {
  readonly data = new Map<string, { value: unknown; expires?: number }>();

  namespace(name: string): KeyValueStore {
    const k = (key: string) => `${name}:${key}`;
    const data = this.data;
    return {
      async get<T>(key: string) {
        const e = data.get(k(key));
        if (!e) return undefined;
        if (e.expires !== undefined && e.expires <= Date.now()) {
          data.delete(k(key));
          return undefined;
        }
        return structuredClone(e.value) as T;
      },
      async set<T>(key: string, value: T, ttlMs?: number) {
        data.set(k(key), { value: structuredClone(value), expires: ttlMs ? Date.now() + ttlMs : undefined });
      },
      async delete(key: string) {
        return data.delete(k(key));
      },
      async keys(prefix = '') {
        return [...data.keys()].filter((x) => x.startsWith(`${name}:${prefix}`)).map((x) => x.slice(name.length + 1));
      },
    };
  }
}
