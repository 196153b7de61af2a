// Contexts persisted in the state store. `default` always exists (created on first use) and cannot
// be removed; the current context cannot be removed either.
import { inject, injectable } from 'tsyringe';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, type Issue } from '../errors.js';
import type { ContextInfo } from '../ports/common.js';
import type { ContextReader, KeyValueStore, StateStore } from '../ports/state.js';
import { TOKENS } from '../tokens.js';
import { validateContext } from './validateContext.js';

type Stored = Omit<ContextInfo, 'current'>;
const CURRENT_KEY = 'current';
export const DEFAULT_CONTEXT = 'default';
const CURRENT_TTL_MS = 1000;

const EDITABLE = ['description', 'registry_url', 'auth_server', 'auth_client_id', 'libvirt_uri', 'insecure_registry'] as const;
const FIELD: Record<(typeof EDITABLE)[number], keyof Stored> = {
  description: 'description',
  registry_url: 'registryUrl',
  auth_server: 'authServer',
  auth_client_id: 'authClientId',
  libvirt_uri: 'libvirtUri',
  insecure_registry: 'insecureRegistry',
};

@injectable()
export class ContextService implements ContextReader {
  private readonly kv: KeyValueStore;
  private readonly meta: KeyValueStore;
  // Serialises writes in this daemon: read-modify-write of the current pointer must not interleave.
  private queue: Promise<unknown> = Promise.resolve();
  // Every RPC reads the current context; a short-lived cache keeps that off the state store's hot path.
  // Local writes invalidate it at once; a change made by another daemon on a shared store shows up
  // within CURRENT_TTL_MS.
  private cached?: { at: number; value: Promise<ContextInfo> };
  // Rules of the plugins that use a context's fields (the libvirt plugin's URI policy).
  private readonly validators: Array<(c: ContextInfo) => Issue[]> = [];

  constructor(@inject(TOKENS.StateStore) state: StateStore) {
    this.kv = state.namespace('contexts');
    this.meta = state.namespace('contexts-meta');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    this.cached = undefined;
    const p = this.queue.then(fn, fn).finally(() => { this.cached = undefined; });
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async ensureDefault(): Promise<void> {
    if (!(await this.kv.get<Stored>(DEFAULT_CONTEXT))) {
      await this.kv.set<Stored>(DEFAULT_CONTEXT, {
        name: DEFAULT_CONTEXT, description: 'local libvirt, no registry, no auth', registryUrl: '', authServer: '',
        authClientId: '', libvirtUri: '', insecureRegistry: false, created: new Date().toISOString(),
      });
    }
  }

  private async currentName(): Promise<string> {
    const name = (await this.meta.get<string>(CURRENT_KEY)) ?? DEFAULT_CONTEXT;
    return (await this.kv.get<Stored>(name)) ? name : DEFAULT_CONTEXT;
  }

  private async load(name: string, cur?: string): Promise<ContextInfo> {
    await this.ensureDefault();
    const s = await this.kv.get<Stored>(name);
    if (!s) throw new NotFoundError(`context "${name}" does not exist; see "vmr context ls"`, { field: 'name' });
    return { ...s, current: (cur ?? (await this.currentName())) === name };
  }

  get(name: string): Promise<ContextInfo> {
    return this.load(name);
  }

  current(): Promise<ContextInfo> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < CURRENT_TTL_MS) return this.cached.value.then((c) => ({ ...c }));
    const value = (async () => {
      await this.ensureDefault();
      return this.load(await this.currentName());
    })();
    this.cached = { at: now, value };
    value.catch(() => { if (this.cached?.value === value) this.cached = undefined; });
    return value.then((c) => ({ ...c }));
  }

  async list(): Promise<{ contexts: ContextInfo[]; current: string }> {
    await this.ensureDefault();
    const cur = await this.currentName();
    const names = await this.kv.keys();
    const contexts = (await Promise.all(names.map((n) => this.kv.get<Stored>(n))))
      .filter((s): s is Stored => !!s)
      .map((s) => ({ ...s, current: s.name === cur }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { contexts, current: cur };
  }

  create(input: ContextInfo, use: boolean): Promise<ContextInfo> {
    return this.serial(async () => {
      await this.ensureDefault();
      const c: Stored = { ...stripCurrent(input), created: new Date().toISOString() };
      this.check(c);
      if (await this.kv.get<Stored>(c.name)) throw new AlreadyExistsError(`context "${c.name}" already exists; use "vmr context update"`, { field: 'context.name' });
      await this.kv.set(c.name, c);
      if (use) await this.meta.set(CURRENT_KEY, c.name);
      return this.load(c.name);
    });
  }

  update(name: string, patch: ContextInfo, mask: string[]): Promise<ContextInfo> {
    return this.serial(async () => {
      const existing = await this.load(name);
      const fields = mask.length ? mask : [...EDITABLE];
      const next: Stored = stripCurrent(existing);
      for (const f of fields) {
        if (f === 'name') throw new InvalidArgumentError('a context cannot be renamed; create a new one', { field: 'update_mask' });
        if (!(EDITABLE as readonly string[]).includes(f)) {
          throw new InvalidArgumentError(`update_mask: unknown or read-only field "${f}" (editable: ${EDITABLE.join(', ')})`, { field: 'update_mask' });
        }
        const key = FIELD[f as (typeof EDITABLE)[number]];
        (next as unknown as Record<string, unknown>)[key] = (patch as unknown as Record<string, unknown>)[key];
      }
      this.check(next);
      await this.kv.set(name, next);
      return this.load(name);
    });
  }

  use(name: string): Promise<ContextInfo> {
    return this.serial(async () => {
      await this.load(name);
      await this.meta.set(CURRENT_KEY, name);
      return this.load(name, name);
    });
  }

  remove(name: string): Promise<ContextInfo> {
    return this.serial(async () => {
      const c = await this.load(name);
      if (name === DEFAULT_CONTEXT) throw new FailedPreconditionError('the "default" context cannot be removed', { field: 'name' });
      if (c.current) throw new FailedPreconditionError(`context "${name}" is the current context; switch with "vmr context use default" first`, { field: 'name' });
      await this.kv.delete(name);
      return c;
    });
  }

  /** Adds a check run on every created or updated context (after the core's own). */
  addValidator(fn: (c: ContextInfo) => Issue[]): void {
    this.validators.push(fn);
  }

  private check(c: Stored): void {
    const issues = validateContext({ ...c, current: false });
    if (!issues.length) for (const v of this.validators) issues.push(...v({ ...c, current: false }));
    if (issues.length) {
      throw new InvalidArgumentError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { field: issues[0]!.path, issues });
    }
  }
}

function stripCurrent(c: ContextInfo): Stored {
  const { current: _c, ...rest } = c;
  return rest;
}
