// The write side of the index: a verified manifest becomes visible under a name, and a failed
// import's blobs go away again. Shared by import, load and pull (through the port's commitManifest).
import type { CallContext, Logger } from '../ports/common.js';
import type { LocalImage, OciDescriptor, VmImageConfig } from '../ports/images.js';
import { DataLossError, FailedPreconditionError, InvalidArgumentError, hasCode, throwIfAborted } from '../errors.js';
import { assertDiskFits, diskWindows } from './coverage.js';
import { assertDigest, sha256Of } from './digest.js';
import { referencedDigests } from './gc.js';
import type { ImageRecords } from './imageRecords.js';
import { parseManifest } from './imageRecords.js';
import type { Lease } from './Leases.js';
import { ANN_REF_NAME, OCI_MANIFEST, VM_CONFIG } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import { refName, type OciIndex } from './OciIndex.js';
import { parseReference } from './reference.js';

/** What the store's parts share once the store is initialised. */
export interface IndexParts {
  content: OciContentStore;
  index: OciIndex;
  records: ImageRecords;
  log: Logger;
  /** Largest virtual disk accepted (bytes); none: no cap. See assertDiskFits. */
  maxDiskSize?: number;
}

/** Points `reference` at `desc` in index.json (replacing what it pointed at). */
export async function setRef(index: OciIndex, reference: string, desc: OciDescriptor): Promise<void> {
  await index.update((doc) => {
    doc.manifests = doc.manifests.filter((m) => refName(m) !== reference);
    doc.manifests.push({
      mediaType: OCI_MANIFEST,
      digest: desc.digest,
      size: desc.size,
      ...(desc.artifactType ? { artifactType: desc.artifactType } : {}),
      annotations: { [ANN_REF_NAME]: reference },
    });
  });
}

/** Stores `manifestBytes` under `reference` once every blob it names is in the store with its size. */
export async function commitManifest(p: IndexParts, reference: string, manifestBytes: Buffer, ctx: CallContext): Promise<LocalImage> {
  const manifest = parseManifest(manifestBytes);
  const digest = sha256Of(manifestBytes);
  // A pull by digest is recorded as `repo@sha256:…` (a valid ref.name), so it stays a GC root.
  const parsed = parseReference(reference);
  if (parsed.digest && parsed.digest !== digest) {
    throw new DataLossError(`the manifest hashes to ${digest}, not to ${parsed.digest} that "${reference}" names`);
  }
  const ref = parsed.reference;
  const lease = p.content.leases.create();
  try {
    for (const d of [manifest.config, ...manifest.layers]) {
      throwIfAborted(ctx.signal);
      assertDigest(d.digest, 'manifest blob digest');
      lease.add(d.digest);
      let have: number;
      try {
        have = await p.content.size(d.digest);
      } catch (err) {
        if (hasCode(err, 'NOT_FOUND')) throw new FailedPreconditionError(`blob ${d.digest} of manifest ${digest} is not in the store; write every blob before committing the manifest`);
        throw err;
      }
      if (have !== d.size) throw new DataLossError(`blob ${d.digest} has ${have} bytes, the manifest says ${d.size}`);
    }
    if (manifest.config.mediaType !== VM_CONFIG) {
      throw new InvalidArgumentError(`manifest config is ${manifest.config.mediaType}, not a vmregistry VM image (${VM_CONFIG})`);
    }
    const config = JSON.parse((await p.content.readAll(manifest.config.digest)).toString('utf8')) as VmImageConfig;
    assertDiskFits(diskWindows(manifest, config).virtualSize, p.maxDiskSize, `the disk of ${digest}`); // coverage, size
    lease.add(digest);
    await p.content.put(digest, manifestBytes);
    for (const d of [manifest.config, ...manifest.layers]) p.content.unclaimed.delete(d.digest);
    await setRef(p.index, ref, { mediaType: OCI_MANIFEST, digest, size: manifestBytes.length, artifactType: manifest.artifactType });
    return p.records.local(ref, digest);
  } finally {
    lease.release();
  }
}

/**
 * After a failed import: removes the blobs it created that nothing else references or holds,
 * so a failure leaves the store as it was.
 */
export async function discardCreated(p: IndexParts, lease: Lease): Promise<void> {
  if (lease.created.size === 0) return;
  try {
    await p.index.exclusive(async () => {
      const referenced = await referencedDigests(p.content, await p.index.read());
      await p.content.gcLock.write(async () => {
        for (const d of lease.created) {
          if (!referenced.has(d)) await p.content.removeUnleased(d, 1);
        }
      });
    });
  } catch (err) {
    p.log.warn({ err }, 'could not remove the blobs of a failed import; GC will');
  }
}
