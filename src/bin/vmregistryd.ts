#!/usr/bin/env node
// vmregistryd: the daemon. Config = defaults < --config file < environment < flags.
import './heapPolicy.js';
import 'reflect-metadata';
import { Command } from 'commander';
import { loadConfig } from '../core/config/DaemonConfig.js';
import { Daemon } from '../core/Daemon.js';
import { hasCode, isVmrError } from '../core/errors.js';
import { createLogger } from '../core/log/logger.js';
import { VERSION } from '../core/version.js';

const program = new Command()
  .name('vmregistryd')
  .description('The vmregistry daemon: serves VMService on a Unix socket.')
  .version(VERSION)
  .option('-c, --config <file>', 'YAML/JSON config file (env VMR_CONFIG)')
  .option('-s, --socket <path>', 'Unix socket to listen on (env VMR_SOCKET)')
  .option('-d, --data-dir <dir>', 'where images and state live (env VMR_DATA_DIR)')
  .option('--state-url <url>', 'state store: sqlite://FILE, postgres://…, redis://… (env VMR_STATE_URL)')
  .option('--socket-group <group>', 'group owning the socket, mode 0660 (env VMR_SOCKET_GROUP)')
  .option('--log-level <level>', 'trace|debug|info|warn|error (env VMR_LOG_LEVEL)')
  .addHelpText('after', '\nExamples:\n  vmregistryd                               # defaults, no config file\n  vmregistryd --socket /tmp/vmr.sock --data-dir /tmp/vmr\n  vmregistryd --config /etc/vmregistry/config.yaml\n');

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{ config?: string; socket?: string; dataDir?: string; stateUrl?: string; socketGroup?: string; logLevel?: string }>();
  const { config, warnings } = await loadConfig({
    file: o.config,
    flags: { socket: o.socket, dataDir: o.dataDir, stateUrl: o.stateUrl, socketGroup: o.socketGroup, logLevel: o.logLevel },
  });
  const log = createLogger({ level: config.logLevel });
  for (const w of warnings) log.warn({ path: w.path }, `config: ${w.message}`);
  const daemon = await Daemon.start({ config, log });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal: sig }, 'signal received; finishing in-flight calls');
    daemon.stop().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'shutdown finished with errors');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  // Startup errors are the user's to fix: one clear line, no stack (unless debugging).
  const msg = isVmrError(err) || err instanceof Error ? err.message : String(err);
  process.stderr.write(`vmregistryd: ${msg}\n`);
  if (process.env.VMR_DEBUG) console.error(err);
  process.exit(hasCode(err, 'ALREADY_EXISTS') ? 3 : 1);
});
