// index.json of the OCI layout: the roots of the store. Each reference is one entry whose
// `org.opencontainers.image.ref.name` is the full reference (`localhost:5000/demo/debian:12`);
// skopeo addresses it as `oci:<layout>:<that string>`. Updates are serialized and atomic.
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { OciDescriptor } from '../ports/images.js';
import { DataLossError } from '../errors.js';
import { writeFileAtomic } from './atomicFile.js';
import { Mutex } from './locks.js';
import { ANN_REF_NAME, OCI_INDEX } from './mediaTypes.js';

export interface OciIndexDoc {
  schemaVersion: 2;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
}

export class OciIndex {
  private readonly mutex = new Mutex();
  readonly file: string;

  constructor(private readonly layoutDir: string) {
    this.file = path.join(layoutDir, 'index.json');
  }

  async init(): Promise<void> {
    await mkdir(this.layoutDir, { recursive: true, mode: 0o755 });
    const layout = path.join(this.layoutDir, 'oci-layout');
    if (!(await exists(layout))) await writeFileAtomic(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!(await exists(this.file))) await writeFileAtomic(this.file, serialize({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
  }

  async read(): Promise<OciIndexDoc> {
    const text = await readFile(this.file, 'utf8');
    try {
      const doc = JSON.parse(text) as OciIndexDoc;
      if (!Array.isArray(doc.manifests)) throw new Error('no manifests array');
      return doc;
    } catch (err) {
      throw new DataLossError(`${this.file} is not a valid OCI index (${(err as Error).message}); restore it from a backup`);
    }
  }

  /** Read-modify-write under the index mutex; the mutation runs on a fresh copy. */
  async update<T>(fn: (doc: OciIndexDoc) => T | Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const doc = await this.read();
      const result = await fn(doc);
      await writeFileAtomic(this.file, serialize(doc));
      return result;
    });
  }

  /** Runs `fn` with index writes held off (GC marks and sweeps under it). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(fn);
  }
}

export function refName(d: OciDescriptor): string | undefined {
  return d.annotations?.[ANN_REF_NAME];
}

function serialize(doc: OciIndexDoc): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
