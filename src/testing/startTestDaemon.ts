// Boots a real daemon (real loader, real gRPC, real state store) on a temp socket for one test.
import 'reflect-metadata';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type DaemonConfig } from '../core/config/DaemonConfig.js';
import { Daemon, type DaemonOptions } from '../core/Daemon.js';
import { silentLogger, createLogger } from '../core/log/logger.js';
import type { PluginDefinition } from '../core/plugins/definePlugin.js';
import { VmClient } from './client.js';

export interface TestDaemonOptions {
  /** Plugin definitions by id; each is enabled with `pluginConfig[id]`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  plugins?: PluginDefinition<any>[];
  pluginConfig?: Record<string, Record<string, unknown>>;
  /** Extra config (merged over the test defaults), e.g. { required: ['x'] } or plugins with modules. */
  config?: Record<string, unknown>;
  imageStore?: DaemonOptions['imageStore'];
  /** Reuse a data dir (to test restarts). */
  dataDir?: string;
  logLevel?: string;
}

export interface TestDaemon {
  daemon: Daemon;
  client: VmClient;
  socket: string;
  dataDir: string;
  config: DaemonConfig;
  /** Stops the daemon; removes the temp dir unless `keepData`. */
  stop(opts?: { keepData?: boolean; graceMs?: number }): Promise<void>;
}

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-'));
  await chmod(dir, 0o755); // libvirt-qemu must traverse it to reach disks below
  const dataDir = opts.dataDir ?? path.join(dir, 'data');
  const socket = path.join(dir, 'vmr.sock');
  const plugins: Record<string, unknown> = {};
  for (const p of opts.plugins ?? []) plugins[p.id] = { config: opts.pluginConfig?.[p.id] ?? {} };
  const { config } = await loadConfig({
    env: {},
    object: { plugins, ...(opts.config ?? {}), socket, dataDir, logLevel: opts.logLevel ?? 'silent', shutdownTimeoutSeconds: 5 },
  });
  const definitions = Object.fromEntries((opts.plugins ?? []).map((p) => [p.id, p]));
  const log = (opts.logLevel ?? process.env.VMR_TEST_LOG) ? createLogger({ level: opts.logLevel ?? process.env.VMR_TEST_LOG }) : silentLogger();
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config, log, definitions, imageStore: opts.imageStore });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const client = new VmClient(socket);
  return {
    daemon, client, socket, dataDir, config,
    async stop(o = {}) {
      client.close();
      await daemon.stop(o.graceMs ?? 2000);
      if (!o.keepData) await rm(dir, { recursive: true, force: true });
    },
  };
}
