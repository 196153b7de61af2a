// One connection per libvirt URI as the hypervisor sees it: the shared client, the URI's VM files, its
// domain type (picked once), the lifecycle-event subscription, and which ephemeral VM owns which directory.
import path from 'node:path';
import type { CallContext, Logger } from '../../../plugin-api/index.js';
import { DomainEventId, parseLibvirtUri, type DomainLifecycleEvent, type DomainRef, type LibvirtClient } from '../rpc/index.js';
import { resolveUri } from '../uri.js';
import type { DomainFacts, DomainType } from './domainXml.js';
import { chooseDomainType, type DomainTypeSetting } from './domainType.js';
import { fileModesFor } from './filePermissions.js';
import { RUNS_IN_FLIGHT } from './runOwner.js';
import { uriSlug, VmFiles } from './vmFiles.js';
import type { VmMetadata } from './vmMetadata.js';

export interface Conn {
  uri: string;
  client: LibvirtClient;
  files: VmFiles;
  domainType?: Promise<DomainType>;
  subscribed?: Promise<void>;
  /** Ephemeral domain UUID → its files directory. */
  ephemeral: Map<string, string>;
  /** Directories of runs in progress in this process (shared by all instances); never swept. */
  inFlight: Set<string>;
}

/** One of our domains as read from libvirt. */
export interface Found {
  dom: DomainRef;
  facts: DomainFacts;
  meta: VmMetadata;
}

// Cleanup must finish even when the caller's signal already fired.
export const CLEANUP = { timeoutMs: 30_000 };

export interface ConnectionsOptions {
  clientFor: (uri: string) => LibvirtClient;
  stateDir: string;
  ownedDirs?: string[];
  defaultUri: string;
  domainType?: DomainTypeSetting;
  log: Logger;
  /** Every lifecycle event of every connection. */
  onLifecycle: (c: Conn, e: DomainLifecycleEvent) => void;
}

export class Connections {
  private readonly conns = new Map<string, Conn>();

  constructor(private readonly opts: ConnectionsOptions) {}

  /** The connection for the call's context (its libvirt URI, else the default), subscribed to events. */
  get(ctx: CallContext): Conn {
    const uri = resolveUri(ctx, this.opts.defaultUri);
    let c = this.conns.get(uri);
    if (!c) {
      c = this.open(uri);
      this.conns.set(uri, c);
    }
    this.subscribe(c);
    return c;
  }

  /** The domain type new VMs get on `c` (asked once per connection; a failure is asked again next time). */
  domainType(c: Conn): Promise<DomainType> {
    c.domainType ??= (async () => chooseDomainType({
      setting: this.opts.domainType ?? 'auto',
      driverType: await c.client.getType(),
      local: parseLibvirtUri(c.uri).transport === 'unix',
      capabilitiesHaveKvm: async () => /<domain\s+type=['"]kvm['"]/.test(await c.client.getCapabilities()),
    }))();
    return c.domainType.catch((err) => {
      c.domainType = undefined;
      throw err;
    });
  }

  private open(uri: string): Conn {
    const conn: Conn = {
      uri,
      client: this.opts.clientFor(uri),
      files: new VmFiles(path.join(this.opts.stateDir, uriSlug(uri)), {
        modes: () => fileModesFor(uri),
        ownRoots: this.opts.ownedDirs ?? [this.opts.stateDir],
      }),
      ephemeral: new Map(),
      inFlight: RUNS_IN_FLIGHT,
    };
    conn.client.on('domainLifecycle', (e: DomainLifecycleEvent) => this.opts.onLifecycle(conn, e));
    // After a daemon restart, learn which ephemeral VMs own which directories before their stop
    // events arrive (they carry only the domain, whose XML is gone by then).
    conn.files.ephemeralDirs().then(
      (dirs) => { for (const e of dirs) if (!conn.ephemeral.has(e.uuid)) conn.ephemeral.set(e.uuid, e.dir); },
      () => {},
    );
    return conn;
  }

  private subscribe(c: Conn): void {
    c.subscribed ??= c.client.subscribeDomainEvents(DomainEventId.LIFECYCLE).then(
      () => undefined,
      (err) => {
        c.subscribed = undefined;
        this.opts.log.warn({ err, uri: c.uri }, 'could not subscribe to libvirt domain events; will retry on the next call');
      },
    );
  }
}
