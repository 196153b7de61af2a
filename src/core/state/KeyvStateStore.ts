import Keyv from 'keyv';
import path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../errors.js';
import type { KeyValueStore, StateStore } from '../ports/state.js';
import { SqliteKeyvStore } from './SqliteKeyvStore.js';

/** Builds the keyv storage adapter for a store URL: sqlite://FILE (default), postgres://…, redis://…, memory:. */
export async function createKeyvAdapter(url: string): Promise<unknown> {
  if (url === 'memory:' || url === 'memory://') return new Map();
  if (url.startsWith('sqlite://')) return new SqliteKeyvStore(path.resolve(url.slice('sqlite://'.length)));
  if (/^postgres(ql)?:\/\//.test(url)) {
    const mod = await importOptional('@keyv/postgres', url);
    const KeyvPostgres = (mod.default ?? mod.KeyvPostgres) as new (o: { uri: string }) => unknown;
    return new KeyvPostgres({ uri: url });
  }
  if (/^rediss?:\/\//.test(url)) {
    const mod = await importOptional('@keyv/redis', url);
    const KeyvRedis = (mod.default ?? mod.KeyvRedis) as new (u: string) => unknown;
    return new KeyvRedis(url);
  }
  throw new InvalidArgumentError(`state store URL "${url}" is not supported; use sqlite://FILE, postgres://…, redis://… or memory:`, { field: 'state.url' });
}

async function importOptional(pkg: string, url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pkg)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`state store ${url.split(':')[0]} needs the npm package ${pkg}: npm install ${pkg}`, { cause: err, field: 'state.url' });
  }
}

/** The state port on keyv: one Keyv per namespace over one shared adapter. */
export class KeyvStateStore implements StateStore {
  private readonly spaces = new Map<string, KeyValueStore>();
  private readonly adapters: unknown[] = [];
  private closed = false;
  private constructor(private readonly adapter: unknown, readonly url: string) {
    this.adapters.push(adapter);
    if (isPostgres(url)) openPostgresStores += 1;
  }

  static async open(url: string): Promise<KeyvStateStore> {
    return new KeyvStateStore(await createKeyvAdapter(url), url);
  }

  namespace(name: string): KeyValueStore {
    let ns = this.spaces.get(name);
    if (!ns) {
      ns = new KeyvNamespace(this.adapterFor(name), name);
      this.spaces.set(name, ns);
    }
    return ns;
  }

  // keyv writes the namespace onto the adapter object, so remote adapters (which keep their own
  // namespace state) get one instance per namespace; the local ones are shared and listed by prefix.
  private adapterFor(name: string): unknown {
    if (this.adapter instanceof Map || this.adapter instanceof SqliteKeyvStore || this.spaces.size === 0) return this.adapter;
    const fresh = createKeyvAdapter(this.url);
    this.adapters.push(fresh);
    return fresh;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let adapters = this.adapters;
    if (isPostgres(this.url)) {
      // @keyv/postgres keeps one process-wide pool that any adapter's disconnect() ends (and a second
      // end() throws): end it once, when the last Postgres store of this process closes.
      openPostgresStores -= 1;
      adapters = openPostgresStores === 0 ? this.adapters.slice(0, 1) : [];
    }
    for (const a of adapters) await ((await a) as { disconnect?: () => Promise<void> }).disconnect?.();
  }
}

const isPostgres = (url: string) => /^postgres(ql)?:\/\//.test(url);
let openPostgresStores = 0;

class KeyvNamespace implements KeyValueStore {
  private readonly kv: Promise<Keyv>;
  constructor(adapter: unknown, private readonly name: string) {
    this.kv = Promise.resolve(adapter).then((store) => {
      const kv = new Keyv({ store: store as never, namespace: name, throwOnErrors: true });
      kv.on('error', () => {});
      return kv;
    });
  }

  private wrap<T>(p: Promise<T>): Promise<T> {
    return p.catch((err: unknown) => {
      throw new UnavailableError(`state store unavailable: ${(err as Error).message}`, { cause: err });
    });
  }

  get<T>(key: string): Promise<T | undefined> {
    return this.wrap(this.kv.then((kv) => kv.get<T>(key)));
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    await this.wrap(this.kv.then((kv) => kv.set(key, value, ttlMs)));
  }

  delete(key: string): Promise<boolean> {
    return this.wrap(this.kv.then((kv) => kv.delete(key)));
  }

  async keys(prefix = ''): Promise<string[]> {
    const kv = await this.kv;
    const store = kv.store as unknown;
    const nsPrefix = `${this.name}:`;
    let raw: AsyncIterable<[string, unknown]> | Iterable<[string, unknown]>;
    if (store instanceof Map) raw = store.entries() as Iterable<[string, unknown]>;
    else if (typeof (store as { iterator?: unknown }).iterator === 'function') {
      raw = (store as { iterator: (ns: string) => AsyncIterable<[string, unknown]> }).iterator(this.name);
    } else throw new UnavailableError(`state store ${kv.opts.store?.constructor?.name ?? ''} cannot list keys`);
    const out: string[] = [];
    for await (const [k] of raw) {
      if (!k.startsWith(nsPrefix)) continue;
      const key = k.slice(nsPrefix.length);
      // Expired entries are dropped by get(); list only live ones.
      if (key.startsWith(prefix) && (await kv.get(key)) !== undefined) out.push(key);
    }
    return out.sort();
  }
}
