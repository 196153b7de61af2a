// Where the image store keeps things under the daemon's data dir. All of it is on one filesystem
// so that finished temp files can be renamed into place.
import path from 'node:path';
import { hexOf } from './digest.js';

export class StorePaths {
  readonly root: string;
  readonly layout: string;
  readonly ingest: string;
  readonly tmp: string;
  readonly disks: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'images');
    this.layout = path.join(this.root, 'oci');
    this.ingest = path.join(this.root, 'ingest');
    this.tmp = path.join(this.root, 'tmp');
    this.disks = path.join(this.root, 'disks');
  }

  disk(manifestDigest: string): string {
    return path.join(this.disks, `${hexOf(manifestDigest)}.raw`);
  }
}
