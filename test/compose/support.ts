// A compose runner wired to the in-memory fakes, as the daemon wires it to libvirt.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HostPaths } from '../../src/core/hostfs/HostPaths.js';
import type { ComposeSource } from '../../src/core/ports/compose.js';
import type { ImageStore, LocalImage } from '../../src/core/ports/images.js';
import { ComposeService } from '../../src/plugins/compose/ComposeService.js';
import { quietLogger, testCallContext } from '../../src/testing/callContext.js';
import { FakeVmService } from '../../src/testing/fakes/FakeVmService.js';
import { InMemoryHypervisor, type InMemoryHypervisorOptions } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { InMemoryNetworkManager } from '../../src/testing/fakes/InMemoryNetworkManager.js';

export const IMAGE = 'localhost:5000/demo/debian:12';

export function makeEnv(opts: Omit<InMemoryHypervisorOptions, 'networks'> & {
  localImages?: string[]; parallelism?: number; sshProbe?: (ip: string) => Promise<boolean>; imageLabels?: Record<string, string>;
} = {}) {
  const nm = new InMemoryNetworkManager();
  const hv = new InMemoryHypervisor({ ...opts, networks: nm });
  const vms = new FakeVmService(hv);
  const local = new Set(opts.localImages ?? [IMAGE]);
  const images = { resolve: async (r: string) => (local.has(r) ? ({ reference: r, info: { labels: opts.imageLabels ?? {} } } as LocalImage) : undefined) } as unknown as ImageStore;
  const make = () => new ComposeService({
    vms, hypervisor: hv, networks: nm, images, log: quietLogger,
    parallelism: opts.parallelism ?? 8, defaultTimeoutSeconds: 5, stopTimeoutSeconds: 1, pollMs: 5,
    ...(opts.sshProbe ? { sshProbe: opts.sshProbe } : {}),
  });
  return { nm, hv, vms, runner: make(), make, ctx: testCallContext };
}

/**
 * A request as the core hands it to the plugin. A test that names a base_dir gets the core's confined
 * reader with that dir as the daemon's paths.import (as a daemon configured for it would).
 */
export function source(content: string, over: Partial<ComposeSource> = {}): ComposeSource {
  const baseDir = over.baseDir ?? '/nonexistent';
  const host = new HostPaths({ dataDir: '/nonexistent-data-dir', import: [baseDir] });
  return {
    content, baseDir, env: {}, projectName: '',
    readFile: over.baseDir ? (rel, field, max) => host.readWithin(baseDir, rel, field, max) : undefined,
    ...over,
  };
}

export const upOpts = (over: Partial<{ services: string[]; forceRecreate: boolean; timeoutSeconds: number; wait: boolean }> = {}) =>
  ({ services: [], forceRecreate: false, timeoutSeconds: 0, ...over });

/** A temp project dir with files; returns its path and a cleanup. */
export async function projectDir(files: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vmr-compose-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The file from API.md, with a third service and tweakable bits. */
export const webStack = (extra = '') => `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: web-stack
networks:
  backend: { mode: nat, subnet: 10.42.0.0/24 }
services:
  db:
    image: ${IMAGE}
    resources: { memory_mb: 1024, vcpu_count: 1 }
    networks: [backend]
  cache:
    image: ${IMAGE}
    networks: [backend]
  web:
    image: ${IMAGE}
    replicas: 2
    networks: [backend]
    depends_on: { db: { condition: ip_assigned }, cache: { condition: started } }
${extra}`;
