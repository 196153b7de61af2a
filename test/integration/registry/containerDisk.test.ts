// KubeVirt containerDisks through a real registry (issue 20): built here, copied in with skopeo, pulled into
// the core's real store (disk extracted while downloading, stored as our image), and pushed back out.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isVmrError } from '../../../src/core/errors.js';
import { OciImageStore } from '../../../src/core/images/OciImageStore.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { hostArchitecture } from '../../../src/plugins/registry-oci/mediaTypes.js';
import { callContext } from '../../support/callContext.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut, requireService } from '../../support/services.js';
import { containerDiskLayout, copyToRegistry, pexec, qcow2Of, sha, skopeo, tarOf } from './containerDiskHelpers.js';

const MiB = 1 << 20;

describe('KubeVirt containerDisks through a registry', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  let tmp: string;
  let n = 0;
  const clients: OciRegistryClient[] = [];
  const ctx = () => callContext({ registryUrl: reg.host, insecureRegistry: true });
  const raw = Buffer.concat([randomBytes(MiB), Buffer.alloc(2 * MiB), Buffer.from('end of disk'.padEnd(MiB, '.'))]);

  const newStore = async () => {
    const s = new OciImageStore({ dataDir: path.join(tmp, `store-${n++}`), windowSize: MiB });
    await s.init();
    const c = new OciRegistryClient(s, defaultConfig);
    clients.push(c);
    return { s, c };
  };
  /** Nothing stored and nothing half-written: no image, no blob, no disk, no work dir. */
  const assertEmpty = async (s: OciImageStore) => {
    assert.deepEqual(await s.list(), []);
    assert.deepEqual(await readdir(s.paths.disks), []);
    assert.deepEqual(await readdir(s.paths.tmp), []);
    assert.deepEqual(await readdir(path.join(s.paths.layout, 'blobs/sha256')).catch(() => []), []);
  };
  const refused = async (p: Promise<unknown>, code: string, re: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(isVmrError(err), String(err));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, re);
      return true;
    });
  };
  const publish = async (files: Record<string, Buffer | string>, repo: string, compression: 'none' | 'gzip' | 'zstd' = 'gzip') => {
    const layout = await containerDiskLayout(tmp, [{ tar: await tarOf(tmp, files), compression }], { tag: 't' });
    await copyToRegistry(layout, 't', `${reg.host}/${repo}`);
    return `${reg.host}/${repo}`;
  };

  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-cdisk-reg-'));
  });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('pulls a single-layer Docker schema 2 containerDisk (qcow2, gzip) as our image with its labels', async () => {
    const qcow = await qcow2Of(tmp, raw);
    const layout = await containerDiskLayout(tmp, [{ tar: await tarOf(tmp, { 'disk/debian.qcow2': `file:${qcow}`, 'etc/motd': 'hi' }), compression: 'gzip' }], {
      tag: '12', labels: { 'org.opencontainers.image.description': 'Debian 12 test disk', 'org.opencontainers.image.source': 'https://example.test/debian', unrelated: 'x' },
    });
    await copyToRegistry(layout, '12', `${reg.host}/containerdisks/debian:12`, { docker: true });
    const { stdout } = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/containerdisks/debian:12`);
    assert.equal(JSON.parse(stdout).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const { s, c } = await newStore();
    const res = await c.pull(`${reg.host}/containerdisks/debian:12`, ctx());
    assert.equal(res.reference, `${reg.host}/containerdisks/debian:12`);
    const [info] = await s.list();
    assert.equal(info!.sourceFormat, 'containerdisk');
    assert.equal(info!.diskFormat, 'qcow2');
    assert.equal(info!.name, 'debian');
    assert.equal(info!.description, 'Debian 12 test disk');
    assert.equal(info!.labels['org.opencontainers.image.source'], 'https://example.test/debian');
    assert.equal(info!.labels.unrelated, undefined, 'only org.opencontainers.image.* labels are kept');
    const img = await s.get(res.reference);
    assert.equal(img.config.origin?.path, 'disk/debian.qcow2');
    assert.equal(img.config.vmfile.spec.resources.memoryMb, 1024);
    assert.deepEqual(await readFile(await s.baseDisk(img.digest, ctx())), raw);
    assert.deepEqual(await readdir(s.paths.tmp), [], 'no copy of the disk is left behind');
    const again = await c.pull(`${reg.host}/containerdisks/debian:12`, ctx());
    assert.deepEqual([again.digest, again.transferred], [img.digest, 0], 'a re-pull of the same manifest is up to date');
  });

  it('several layers (zstd over plain tar): a whiteout removes the lower disk, the top layer\'s raw .img wins', async () => {
    const layout = await containerDiskLayout(tmp, [
      { tar: await tarOf(tmp, { 'disk/old.qcow2': `file:${await qcow2Of(tmp, Buffer.alloc(MiB, 1))}` }), compression: 'none' },
      { tar: await tarOf(tmp, { 'disk/.wh.old.qcow2': '', 'disk/new.img': raw }), compression: 'zstd' },
    ], { tag: 'v2' });
    await copyToRegistry(layout, 'v2', `${reg.host}/cd/layered:v2`);
    const { s, c } = await newStore();
    const res = await c.pull(`${reg.host}/cd/layered:v2`, ctx());
    const img = await s.get(res.reference);
    assert.equal(img.config.vmfile.spec.disk.format, 'raw');
    assert.equal(img.config.origin?.path, 'disk/new.img');
    assert.deepEqual(await readFile(await s.baseDisk(img.digest, ctx())), raw);
  });

  it('a multi-arch index resolves to this host\'s architecture, or names the platforms it has', async () => {
    const host = hostArchitecture();
    const other = host === 'arm64' ? 's390x' : 'arm64';
    const tar = await tarOf(tmp, { 'disk/disk.img': raw });
    const multi = await containerDiskLayout(tmp, [{ tar, compression: 'gzip' }], { tag: 'm', platforms: [{ os: 'linux', architecture: other }, { os: 'linux', architecture: host }] });
    await copyToRegistry(multi, 'm', `${reg.host}/cd/multi:1`);
    const { s, c } = await newStore();
    const res = await c.pull(`${reg.host}/cd/multi:1`, ctx());
    assert.equal((await s.get(res.reference)).config.vmfile.spec.os.architecture, { amd64: 'x86_64', arm64: 'aarch64' }[host] ?? host);
    const foreign = await containerDiskLayout(tmp, [{ tar, compression: 'gzip' }], { tag: 'f', platforms: [{ os: 'linux', architecture: other }, { os: 'linux', architecture: 'riscv64' }] });
    await copyToRegistry(foreign, 'f', `${reg.host}/cd/foreign:1`);
    const empty = await newStore();
    await refused(empty.c.pull(`${reg.host}/cd/foreign:1`, ctx()), 'NOT_FOUND', new RegExp(`linux/${host}.*linux/${other}, linux/riscv64`));
    await assertEmpty(empty.s);
  });

  it('refuses bad containerDisks naming the problem, storing nothing', async () => {
    const qcow = await qcow2Of(tmp, raw);
    const backed = await qcow2Of(tmp, raw);
    await pexec('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', '/etc/passwd', '-F', 'raw', backed]);
    const cases: Array<[Record<string, Buffer | string>, string, RegExp]> = [
      [{ 'etc/motd': 'no disk' }, 'INVALID_ARGUMENT', /no disk under \/disk\//],
      [{ 'disk/a.qcow2': `file:${qcow}`, 'disk/b.img': raw }, 'INVALID_ARGUMENT', /2 files under \/disk\//],
      [{ 'boot/disk.qcow2': `file:${qcow}` }, 'INVALID_ARGUMENT', /no disk under \/disk\/ \(a disk outside it: \/boot\/disk\.qcow2/],
      [{ 'disk/disk.qcow2': 'symlink:../etc/passwd' }, 'INVALID_ARGUMENT', /symbolic link/],
      [{ 'disk/disk.qcow2': `file:${backed}` }, 'INVALID_ARGUMENT', /names a backing file \("\/etc\/passwd"\)/],
    ];
    for (const [i, [files, code, re]] of cases.entries()) {
      const ref = await publish(files, `bad/case${i}:t`);
      const { s, c } = await newStore();
      await refused(c.pull(ref, ctx()), code, re);
      await assertEmpty(s);
    }
  });

  it('a layer whose bytes do not match its digest or size is DATA_LOSS, nothing stored', async () => {
    const ref = await publish({ 'disk/disk.img': raw }, 'bad/corrupt:t', 'none');
    const { stdout } = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ref}`);
    const layer = JSON.parse(stdout).layers[0] as { digest: string; size: number; mediaType: string };
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar', 'the plain tar layer reached the registry as is');
    const data = path.join(reg.dir, 'data/docker/registry/v2/blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
    const good = await readFile(data);
    const flipped = Buffer.from(good);
    flipped[good.length >> 1] ^= 0xff;
    await writeFile(data, flipped);
    const a = await newStore();
    await refused(a.c.pull(ref, ctx()), 'DATA_LOSS', new RegExp(`hashes to sha256:[0-9a-f]{64}, not to its digest ${layer.digest}`));
    await assertEmpty(a.s);
    await writeFile(data, good.subarray(0, good.length - 1024));
    const b = await newStore();
    await refused(b.c.pull(ref, ctx()), 'DATA_LOSS', new RegExp(`${layer.digest}.*(has ${good.length - 1024} bytes|bytes)`));
    await assertEmpty(b.s);
  });

  it('pushes one of ours as a containerDisk that skopeo reads (disk/disk.qcow2, 107:107, 0440) and that pulls back', async () => {
    const { s, c } = await newStore();
    const vmfile = {
      apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile',
      metadata: { name: 'ours', description: 'pushed as a containerDisk', author: 'tests', source: '', labels: { tier: 'test' } },
      spec: { disk: { path: './disk.img', format: 'raw' }, resources: { memoryMb: 256, vcpuCount: 2, diskSizeGb: 0 }, os: { architecture: 'x86_64', firmware: 'bios' } },
    };
    await s.importStream({ vmfile, reference: 'vm/ours:1', totalSize: raw.length }, (async function* () { yield raw; })(), ctx());
    const pushed = await c.push('vm/ours:1', `${reg.host}/kubevirt/ours:1`, ctx(), { format: 'containerdisk' });
    const insp = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/kubevirt/ours:1`)).stdout);
    assert.equal(insp.Architecture, 'amd64');
    assert.equal(insp.Os, 'linux');
    assert.equal(insp.Digest, pushed.digest);
    const layout = path.join(tmp, 'pushed-layout');
    await skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/kubevirt/ours:1`, `oci:${layout}:ours`);
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    assert.equal(manifest.layers.length, 1);
    assert.equal(JSON.parse(manifest.annotations['io.vmregistry.vmfile']).spec.resources.vcpuCount, 2);
    const layerFile = path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
    assert.equal(sha(await readFile(layerFile)), manifest.layers[0].digest);
    const listing = (await pexec('tar', ['-tvzf', layerFile, '--numeric-owner'])).stdout.trim().split('\n');
    assert.equal(listing.length, 2, listing.join('\n'));
    assert.match(listing[0]!, /^dr-xr-xr-x 107\/107\s+0 .* disk\/$/);
    assert.match(listing[1]!, /^-r--r----- 107\/107\s+\d+ .* disk\/disk\.qcow2$/);
    const back = await newStore();
    const res = await back.c.pull(`${reg.host}/kubevirt/ours:1`, ctx());
    const img = await back.s.get(res.reference);
    assert.equal(img.info.sourceFormat, 'containerdisk');
    assert.equal(img.config.vmfile.metadata.name, 'ours');
    assert.equal(img.config.vmfile.spec.resources.memoryMb, 256, 'the VMFile annotation is restored');
    assert.deepEqual(await readFile(await back.s.baseDisk(img.digest, ctx())), raw);
  });
});
