// RunVM on libvirt, step by step: refuse a taken name, make sure the network is up, write the VM's
// files (overlay disk, cloud-init seed), define or create the domain, and wait for a lease when asked.
// A failed run removes what it created (the domain with our UUID and the VM's directory).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  AlreadyExistsError, type CallContext, FailedPreconditionError, hasCode, type Logger, NotFoundError,
  type RunVMSpec, throwIfAborted, type VMRecord,
} from '../../../plugin-api/index.js';
import { parseLibvirtUri, type DomainRef } from '../rpc/index.js';
import { seedFiles, writeSeedIso } from './cloudInitSeed.js';
import { CLEANUP, type Conn, type Connections } from './connections.js';
import type { Domains } from './domains.js';
import { buildDomainXml, libvirtArch } from './domainXml.js';
import type { EphemeralFiles } from './ephemeralFiles.js';
import { createOverlay } from './overlay.js';
import type { Power } from './power.js';
import { ignoring, retryWhileUnavailable } from './records.js';
import type { VmPaths } from './vmFiles.js';
import type { VmMetadata } from './vmMetadata.js';

export interface VmRunnerDeps {
  conns: Connections;
  domains: Domains;
  power: Power;
  files: EphemeralFiles;
  log: Logger;
  defaultNetwork: string;
}

type Progress = (phase: string, message: string) => void;

const nameTaken = (name: string, cause?: unknown) => new AlreadyExistsError(
  `a VM named "${name}" already exists; delete it first or pick another name`, { field: 'name', cause });

export class VmRunner {
  constructor(private readonly d: VmRunnerDeps) {}

  /** Runs `spec` on `c`; the caller holds the lock on the VM's name. */
  async run(c: Conn, spec: RunVMSpec, ctx: CallContext): Promise<VMRecord> {
    throwIfAborted(ctx.signal);
    if (await this.d.domains.exists(c, spec.name, ctx)) throw nameTaken(spec.name);
    const networkName = spec.networkName || this.d.defaultNetwork;
    await ensureNetwork(c, networkName, spec.activateNetwork, ctx);
    const type = await this.d.conns.domainType(c);
    const progress: Progress = (phase, message) =>
      ctx.progress?.({ phase, item: spec.name, current: 0, total: 0, unit: 'items', message });

    const uuid = randomUUID();
    const paths = await c.files.create(spec.name, c.inFlight);
    try {
      await this.writeFiles(c, spec, uuid, paths, progress, ctx);
      const meta = metadataFor(spec, paths);
      const xml = (m: VmMetadata) => buildDomainXml({
        name: spec.name,
        uuid,
        type,
        memoryMb: spec.memoryMb,
        vcpuCount: spec.vcpuCount,
        arch: libvirtArch(spec.image.architecture || 'x86_64'),
        firmware: spec.image.firmware,
        overlayPath: paths.overlay,
        seedPath: paths.seed,
        consolePath: paths.console,
        networkName,
        ...(spec.macAddress ? { macAddress: spec.macAddress } : {}),
        metadata: m,
      });
      throwIfAborted(ctx.signal);
      const dom = await this.createDomain(c, spec, uuid, paths, meta, xml, progress, ctx);
      const found = await this.d.domains.read(c, dom, ctx);
      if (spec.waitForIp && spec.start) {
        progress('ip', 'waiting for a DHCP lease');
        await this.d.power.waitForLease(c, found, ctx);
      }
      return await this.d.domains.record(c, found, ctx);
    } catch (err) {
      await this.undo(c, uuid, paths.dir, spec.ephemeral).catch((cleanupErr) =>
        this.d.log.error({ err: cleanupErr, vm: spec.name }, 'could not clean up after a failed run'));
      if (hasCode(err, 'ALREADY_EXISTS')) throw nameTaken(spec.name, err);
      throw err;
    } finally {
      c.inFlight.delete(paths.dir);
    }
  }

  /** The VM's own files: the ephemeral marker, the overlay over the base disk, the cloud-init seed. */
  private async writeFiles(c: Conn, spec: RunVMSpec, uuid: string, paths: VmPaths, progress: Progress, ctx: CallContext): Promise<void> {
    if (spec.ephemeral) await fs.writeFile(paths.ephemeralMarker, uuid);
    // Overlay and seed are independent files, both written in-process (issue 17: the tools that made them,
    // qemu-img and xorriso, took most of a run's own time), side by side. allSettled, so a failing one never
    // leaves the other still writing into the directory undo removes.
    progress('disk', 'creating the overlay disk');
    progress('seed', 'writing the cloud-init seed');
    const made = await Promise.allSettled([
      (async () => {
        if (parseLibvirtUri(c.uri).transport === 'unix') await c.files.prepareBaseDisk(spec.image.baseDiskPath);
        await createOverlay({ basePath: spec.image.baseDiskPath, overlayPath: paths.overlay, sizeGb: spec.diskSizeGb, signal: ctx.signal });
        await c.files.secure(paths.overlay);
      })(),
      (async () => {
        await writeSeedIso(paths.seed, seedFiles(spec.name, spec.cloudInit), ctx.signal);
        await c.files.secure(paths.seed);
      })(),
    ]);
    const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** An ephemeral VM is a transient domain (created running); any other is defined, then started if asked. */
  private async createDomain(
    c: Conn, spec: RunVMSpec, uuid: string, paths: VmPaths, meta: VmMetadata, xml: (m: VmMetadata) => string,
    progress: Progress, ctx: CallContext,
  ): Promise<DomainRef> {
    const opt = { signal: ctx.signal };
    progress('boot', spec.ephemeral ? 'creating the transient domain' : 'defining the domain');
    if (spec.ephemeral) {
      c.ephemeral.set(uuid, paths.dir);
      return c.client.domainCreateXml(xml({ ...meta, startedAt: new Date().toISOString() }), 0, opt);
    }
    let dom = await c.client.domainDefineXml(xml(meta), 0, opt);
    if (spec.start) {
      dom = await c.client.domainCreate(dom, 0, opt);
      await this.d.power.markStarted(c, dom, meta);
    }
    return dom;
  }

  /** Removes whatever a failed run created: the domain with our UUID (if libvirt made it) and our directory. */
  private async undo(c: Conn, uuid: string, dir: string, ephemeral: boolean): Promise<void> {
    c.ephemeral.delete(uuid);
    try {
      // The run may have failed because libvirtd restarted; wait for it rather than leave a domain.
      await retryWhileUnavailable(CLEANUP.timeoutMs, async () => {
        try {
          const dom = await c.client.domainLookupByUuid(uuid, CLEANUP);
          await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () => c.client.domainDestroy(dom, 0, CLEANUP));
          if (!ephemeral) await ignoring(['NOT_FOUND'], () => c.client.domainUndefine(dom, 0, CLEANUP));
        } catch (err) {
          if (!hasCode(err, 'NOT_FOUND')) throw err;
        }
      });
    } finally {
      await this.d.files.remove(c, dir);
    }
  }
}

function metadataFor(spec: RunVMSpec, paths: VmPaths): VmMetadata {
  return {
    image: spec.image.reference,
    imageDigest: spec.image.digest,
    created: new Date().toISOString(),
    ephemeral: spec.ephemeral,
    filesDir: paths.dir,
    labels: { ...spec.labels },
    compose: spec.compose,
    defaultUser: spec.defaultUser,
    cloudInit: spec.cloudInitSummary,
  };
}

/** The network must exist; an inactive one is started only when the run asks for it. */
async function ensureNetwork(c: Conn, name: string, activate: boolean, ctx: CallContext): Promise<void> {
  const opt = { signal: ctx.signal };
  let net;
  try {
    net = await c.client.networkLookupByName(name, opt);
  } catch (err) {
    if (hasCode(err, 'NOT_FOUND')) {
      throw new NotFoundError(`network "${name}" does not exist; create it first or pick another network`, {
        field: 'network_name',
        cause: err,
      });
    }
    throw err;
  }
  if (await c.client.networkIsActive(net, opt)) return;
  if (!activate) {
    throw new FailedPreconditionError(
      `network "${name}" is not active; activate it first or run with activate_network`, { field: 'network_name' });
  }
  try {
    await c.client.networkCreate(net, opt);
  } catch (err) {
    // Another run may have activated it meanwhile.
    if (!(await c.client.networkIsActive(net, opt))) throw err;
  }
}
