// The small rules of a containerDisk pull (issue 20): which index entry, which local name, which VMFile name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isVmrError } from '../../src/core/errors.js';
import { containerDiskName, isContainerImage, nameFromRepository } from '../../src/plugins/registry-oci/containerDiskPull.js';
import { hostArchitecture, parseManifest, selectFromIndex } from '../../src/plugins/registry-oci/mediaTypes.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const index = (platforms: Array<{ os: string; architecture: string } | undefined>) => parseManifest(Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: platforms.map((platform, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(i + 1), size: 10, ...(platform ? { platform } : {}) })),
})));

describe('containerDisk rules', () => {
  it('an index resolves to the host architecture, else NOT_FOUND naming the platforms', () => {
    assert.equal(hostArchitecture('x64'), 'amd64');
    assert.equal(hostArchitecture('arm64'), 'arm64');
    const m = index([{ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }]);
    assert.equal(selectFromIndex(m, 'r', 'amd64').digest, d(2));
    assert.equal(selectFromIndex(m, 'r', 'arm64').digest, d(1));
    assert.throws(() => selectFromIndex(m, 'quay.io/x/y:1', 's390x'), (err: unknown) => isVmrError(err) && err.code === 'NOT_FOUND'
      && /no image for this host's platform linux\/s390x; it has linux\/arm64, linux\/amd64/.test(err.message));
    assert.equal(selectFromIndex(index([undefined]), 'r', 's390x').digest, d(1), 'a single entry without a platform is taken');
    assert.throws(() => selectFromIndex(index([{ os: 'linux', architecture: 'arm64' }]), 'r', 'amd64'), /linux\/arm64/);
  });

  it('names: a pull by digest gets a tag, the VMFile name comes from the repository', () => {
    assert.equal(containerDiskName('quay.io/containerdisks/debian:12'), 'quay.io/containerdisks/debian:12');
    const hex = 'ab'.repeat(32);
    assert.equal(containerDiskName(`quay.io/containerdisks/debian@sha256:${hex}`), `quay.io/containerdisks/debian:sha256-${hex}`);
    assert.equal(containerDiskName(`localhost:5000/x/y:1@sha256:${hex}`), `localhost:5000/x/y:sha256-${hex}`);
    assert.equal(nameFromRepository('containerdisks/debian'), 'debian');
    assert.equal(nameFromRepository('containerdisks/CentOS_Stream__9'), 'centos_stream__9');
    assert.equal(nameFromRepository('a/' + 'x'.repeat(100)).length, 64);
    assert.equal(nameFromRepository('a/---'), 'image');
  });

  it('a container image is one whose config is an OCI or Docker image config', () => {
    const m = (mediaType: string) => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType, digest: d(1), size: 2 }, layers: [] })));
    assert.ok(isContainerImage(m('application/vnd.oci.image.config.v1+json')));
    assert.ok(isContainerImage(m('application/vnd.docker.container.image.v1+json')));
    assert.ok(!isContainerImage(m('application/vnd.vmregistry.vm.config.v1+json')));
  });
});
