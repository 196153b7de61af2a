// A libvirt connection; its typed procedure wrappers come from the table in procedures.ts. It owns its socket's lifecycle: when libvirtd
// goes away it reconnects with backoff and re-registers event callbacks; calls made while it is
// down fail at once with UnavailableError instead of hanging.
import { EventEmitter } from 'node:events';
import {
  CancelledError, hasCode, isVmrError, type Logger, UnavailableError, type VmrError,
} from '../../../plugin-api/index.js';
import { DomainEventId, Proc } from './constants.js';
import { handshake } from './handshake.js';
import { decodeEvent, type LibvirtEventMap } from './events.js';
import { RpcConnection, type CallOptions } from './RpcConnection.js';
import { dial as defaultDial, type Dialer } from './transports.js';
import { PROCEDURES, readInt, readVoid, type Procedure, type ProcedureMethods, type Reader } from './procedures.js';
import { parseLibvirtUri, type LibvirtUri } from './uri.js';
import { XdrReader, XdrWriter } from './xdr.js';

export type { CallOptions } from './RpcConnection.js';

export interface LibvirtClientOptions {
  /** Reconnect after the daemon goes away (default true). */
  reconnect?: boolean;
  /** Reconnect backoff: first delay and cap, doubled per failed attempt (defaults 200 ms, 5 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Our keepalive: ping after this much silence (default 5000; 0 off). */
  keepaliveIntervalMs?: number;
  /** Dead after interval × count of silence (default 6). */
  keepaliveCount?: number;
  /** Bound on dial + handshake (default 15 s). */
  connectTimeoutMs?: number;
  /**
   * Bound on each call that gives no `timeoutMs` of its own (default 120 s): keepalive only notices a
   * dead libvirtd, not a live one whose driver is stuck, and a caller may hold a lock while it waits.
   */
  callTimeoutMs?: number;
  /** Open read-only (VIR_CONNECT_RO). */
  readOnly?: boolean;
  /** Replaces the transport (tests). */
  dialer?: Dialer;
  /** ssh binary for qemu+ssh:// (default `ssh`, or $VMR_LIBVIRT_SSH). */
  sshCommand?: string;
  log?: Logger;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface EventSubscription {
  readonly kind: 'domain' | 'network';
  readonly eventId: number;
  /** Stops delivery (deregisters on the daemon when the last subscriber of this event leaves). */
  unsubscribe(): Promise<void>;
}

interface ServerRegistration {
  kind: 'domain' | 'network';
  eventId: number;
  refs: number;
  /** The daemon's callbackID on the current connection, once registered. */
  callbackId?: number;
  conn?: RpcConnection;
}

type Writer = (w: XdrWriter) => void;

// The typed procedure wrappers (domainLookupByName, networkCreate, …) come from the table in procedures.ts.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface LibvirtClient extends ProcedureMethods {}

/**
 * Events (EventEmitter): `connected` (), `disconnected` (reason: VmrError), `domainLifecycle`,
 * `domainReboot`, `domainMetadataChange`, `domainAgentLifecycle`, `networkLifecycle` (see events.ts).
 * Event payloads arrive only for kinds subscribed with subscribeDomainEvents/subscribeNetworkEvents.
 */
export class LibvirtClient extends EventEmitter {
  readonly uri: string;
  readonly target: LibvirtUri;
  private readonly opts: Required<Omit<LibvirtClientOptions, 'log' | 'dialer' | 'sshCommand'>> &
    Pick<LibvirtClientOptions, 'log' | 'dialer' | 'sshCommand'>;
  private conn: RpcConnection | undefined;
  private connecting: Promise<void> | undefined;
  private stateValue: ConnectionState = 'disconnected';
  private lastError: VmrError | undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly registrations = new Map<string, ServerRegistration>();

  /** Creates a client and starts connecting in the background (see `ready()`). */
  static create(uri: string, opts: LibvirtClientOptions = {}): LibvirtClient {
    const c = new LibvirtClient(uri, opts);
    c.startConnect();
    return c;
  }

  /** Connects and resolves once the handshake is done; rejects (and closes) if the first attempt fails. */
  static async connect(uri: string, opts: LibvirtClientOptions = {}): Promise<LibvirtClient> {
    const c = new LibvirtClient(uri, opts);
    try {
      await c.startConnect();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private constructor(uri: string, opts: LibvirtClientOptions) {
    super();
    this.uri = uri;
    this.target = parseLibvirtUri(uri);
    this.opts = {
      reconnect: opts.reconnect ?? true,
      backoffInitialMs: opts.backoffInitialMs ?? 200,
      backoffMaxMs: opts.backoffMaxMs ?? 5000,
      keepaliveIntervalMs: opts.keepaliveIntervalMs ?? 5000,
      keepaliveCount: opts.keepaliveCount ?? 6,
      connectTimeoutMs: opts.connectTimeoutMs ?? 15000,
      callTimeoutMs: opts.callTimeoutMs ?? 120_000,
      readOnly: opts.readOnly ?? false,
      log: opts.log,
      dialer: opts.dialer,
      sshCommand: opts.sshCommand,
    };
    // An 'error' listener-less emitter would throw; we never emit 'error', but be explicit.
    this.setMaxListeners(0);
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  /** Why the client is not connected (undefined while connected). */
  get lastFailure(): VmrError | undefined {
    return this.connected ? undefined : this.lastError;
  }

  /** Resolves once connected; rejects on close, timeout (default connectTimeoutMs) or signal. */
  async ready(opts: CallOptions = {}): Promise<void> {
    if (this.connected) return;
    if (this.stateValue === 'closed') throw new UnavailableError(`libvirt client for ${this.uri} is closed`);
    const timeoutMs = opts.timeoutMs ?? this.opts.connectTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('connected', onUp);
        this.off('closed', onClosed);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onUp = () => done();
      const onClosed = () => done(new UnavailableError(`libvirt client for ${this.uri} is closed`));
      const onAbort = () => done(new CancelledError(`waiting for libvirt at ${this.uri} cancelled`));
      const timer = setTimeout(
        () => done(new UnavailableError(
          `libvirt at ${this.uri} is unavailable${this.lastError ? `: ${this.lastError.message}` : ''} (waited ${timeoutMs} ms)`,
        )),
        timeoutMs,
      );
      this.on('connected', onUp);
      this.on('closed', onClosed);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Says goodbye (CONNECT_CLOSE) and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    this.conn = undefined;
    if (conn && !conn.closed) {
      await conn.call(Proc.CONNECT_CLOSE, undefined, 'close connection', { timeoutMs: 2000 }).catch(() => undefined);
      conn.destroy(new UnavailableError(`libvirt client for ${this.uri} was closed`));
    }
    this.emit('closed');
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  private startConnect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.stateValue = 'connecting';
    const p = this.establish()
      .then(() => {
        this.attempt = 0;
      })
      .catch((err: unknown) => {
        this.lastError = isVmrError(err) ? err : new UnavailableError(`libvirt at ${this.uri}: ${String(err)}`, { cause: err });
        if (this.stateValue !== 'closed') {
          this.stateValue = 'disconnected';
          this.scheduleReconnect();
        }
        throw this.lastError;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    this.connecting = p;
    p.catch(() => undefined);
    return p;
  }

  private scheduleReconnect(): void {
    if (!this.opts.reconnect || this.stateValue === 'closed' || this.reconnectTimer) return;
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** Math.min(this.attempt, 16));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stateValue === 'closed') return;
      this.startConnect().catch(() => undefined);
    }, delay);
    this.reconnectTimer.unref();
  }

  private async establish(): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.opts.connectTimeoutMs);
    const callOpts: CallOptions = { signal: ac.signal };
    let conn: RpcConnection | undefined;
    try {
      const stream = await (this.opts.dialer ?? defaultDial)(this.target, { signal: ac.signal, sshCommand: this.opts.sshCommand });
      conn = new RpcConnection(stream, {
        label: `libvirtd (${this.uri})`,
        keepaliveIntervalMs: this.opts.keepaliveIntervalMs,
        keepaliveCount: this.opts.keepaliveCount,
      });
      await handshake(conn, this.target, { uri: this.uri, keepalive: this.opts.keepaliveIntervalMs > 0, readOnly: this.opts.readOnly }, callOpts);
      if (this.stateValue === 'closed') {
        conn.destroy();
        return;
      }
      conn.on('event', (proc: number, payload: Buffer) => this.onEvent(conn!, proc, payload));
      conn.once('close', (reason: VmrError) => this.onConnectionClosed(conn!, reason));
      this.conn = conn;
      await this.reregister(conn, callOpts);
      if (conn.closed) throw conn.closeReason ?? new UnavailableError(`connection to ${this.uri} closed`);
      this.stateValue = 'connected';
      this.lastError = undefined;
      this.opts.log?.info({ uri: this.uri }, 'connected to libvirt');
      this.emit('connected');
    } catch (err) {
      if (this.conn === conn) this.conn = undefined;
      conn?.destroy();
      if (ac.signal.aborted && err instanceof CancelledError) {
        throw new UnavailableError(`connecting to libvirt at ${this.uri} timed out after ${this.opts.connectTimeoutMs} ms`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onConnectionClosed(conn: RpcConnection, reason: VmrError): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    for (const reg of this.registrations.values()) {
      if (reg.conn === conn) {
        reg.conn = undefined;
        reg.callbackId = undefined;
      }
    }
    if (this.stateValue === 'closed') return;
    this.lastError = reason;
    this.stateValue = 'disconnected';
    this.opts.log?.warn({ uri: this.uri, reason: reason.message }, 'lost the libvirt connection; reconnecting');
    this.emit('disconnected', reason);
    this.scheduleReconnect();
  }

  private onEvent(conn: RpcConnection, proc: number, payload: Buffer): void {
    if (this.conn !== conn) return;
    let ev;
    try {
      ev = decodeEvent(proc, payload);
    } catch (err) {
      this.opts.log?.warn({ uri: this.uri, proc, err: (err as Error).message }, 'undecodable libvirt event dropped');
      return;
    }
    if (ev) this.emit(ev.name, ev.value);
  }

  // ---- calls -----------------------------------------------------------------------------------

  /** Raw call for procedures without a wrapper: XDR args in, XDR ret out. */
  async call(proc: number, args: Buffer | undefined, what: string, opts: CallOptions = {}): Promise<Buffer> {
    // A connection attempt in flight (handshake or re-registering events) decides the outcome.
    if (this.connecting) await this.connecting.catch(() => undefined);
    const conn = this.conn;
    if (!conn || !this.connected) {
      const why = this.stateValue === 'closed'
        ? 'the libvirt client was closed'
        : `libvirt at ${this.uri} is unavailable${this.lastError ? ` (${this.lastError.message})` : ''}; reconnecting`;
      throw new UnavailableError(`${what}: ${why}`, { cause: this.lastError });
    }
    return conn.call(proc, args, what, { ...opts, timeoutMs: opts.timeoutMs ?? this.opts.callTimeoutMs });
  }

  private async rpc<T>(proc: number, what: string, write: Writer | undefined, read: Reader<T>, opts?: CallOptions): Promise<T> {
    let args: Buffer | undefined;
    if (write) {
      const w = new XdrWriter();
      write(w);
      args = w.toBuffer();
    }
    const r = new XdrReader(await this.call(proc, args, what, opts));
    const v = read(r);
    r.end();
    return v;
  }

  /** A procedure of the table (procedures.ts); each is also a method of the client. */
  invoke<A extends unknown[], R>(p: Procedure<A, R>, args: A, opts?: CallOptions): Promise<R> {
    return this.rpc(p.proc, p.what(...args), p.write && ((w) => p.write!(w, ...args)), p.read, opts);
  }

  // ---- events ----------------------------------------------------------------------------------

  /**
   * Delivers domain events of `eventId` (DomainEventId: LIFECYCLE 0, REBOOT 1, AGENT_LIFECYCLE 18,
   * METADATA_CHANGE 23) for all domains as client events. Survives reconnects. When disconnected the
   * subscription is kept and registered on the next connection.
   */
  subscribeDomainEvents(eventId: number = DomainEventId.LIFECYCLE, opts?: CallOptions): Promise<EventSubscription> {
    return this.subscribe('domain', eventId, opts);
  }

  /** Delivers `networkLifecycle` events for all networks. */
  subscribeNetworkEvents(opts?: CallOptions): Promise<EventSubscription> {
    return this.subscribe('network', 0, opts);
  }

  private async subscribe(kind: 'domain' | 'network', eventId: number, opts?: CallOptions): Promise<EventSubscription> {
    const key = `${kind}:${eventId}`;
    let reg = this.registrations.get(key);
    if (!reg) {
      reg = { kind, eventId, refs: 0 };
      this.registrations.set(key, reg);
    }
    reg.refs++;
    const conn = this.conn;
    if (conn && this.connected && reg.conn !== conn) {
      try {
        await this.register(conn, reg, opts);
      } catch (err) {
        if (hasCode(err, 'UNAVAILABLE')) {
          // Lost the connection meanwhile: the reconnect registers it.
        } else {
          reg.refs--;
          if (reg.refs === 0) this.registrations.delete(key);
          throw err;
        }
      }
    }
    let done = false;
    return {
      kind,
      eventId,
      unsubscribe: async () => {
        if (done) return;
        done = true;
        reg.refs--;
        if (reg.refs > 0) return;
        this.registrations.delete(key);
        this.conn?.keepProcessAlive(this.registrations.size > 0);
        if (reg.conn && reg.conn === this.conn && reg.callbackId !== undefined) {
          const proc = kind === 'domain'
            ? Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY
            : Proc.CONNECT_NETWORK_EVENT_DEREGISTER_ANY;
          const id = reg.callbackId;
          await this.rpc(proc, `deregister ${kind} events`, (w) => w.int(id), readVoid).catch(() => undefined);
        }
      },
    };
  }

  private async register(conn: RpcConnection, reg: ServerRegistration, opts?: CallOptions): Promise<void> {
    const proc = reg.kind === 'domain'
      ? Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY
      : Proc.CONNECT_NETWORK_EVENT_REGISTER_ANY;
    const w = new XdrWriter(8).int(reg.eventId).uint(0); // object = NULL: every domain/network
    const ret = await conn.call(proc, w.toBuffer(), `register ${reg.kind} events`, opts);
    reg.callbackId = readInt(new XdrReader(ret));
    reg.conn = conn;
    conn.keepProcessAlive(true);
  }

  private async reregister(conn: RpcConnection, opts: CallOptions): Promise<void> {
    for (const reg of this.registrations.values()) await this.register(conn, reg, opts);
  }

  // Typed listener overloads for the event names this client emits.
  override on<K extends keyof LibvirtEventMap>(event: K, listener: (ev: LibvirtEventMap[K]) => void): this;
  override on(event: 'connected' | 'closed', listener: () => void): this;
  override on(event: 'disconnected', listener: (reason: VmrError) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
}

for (const [name, p] of Object.entries(PROCEDURES) as [string, Procedure<unknown[], unknown>][]) {
  Object.defineProperty(LibvirtClient.prototype, name, {
    value(this: LibvirtClient, ...args: unknown[]) {
      return this.invoke(p, args.slice(0, p.arity), args[p.arity] as CallOptions | undefined);
    },
    writable: true,
    configurable: true,
  });
}
