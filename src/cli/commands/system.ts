// `vmr health`, `vmr version`, `vmr completion`.
import { Argument, type Command } from 'commander';
import { action } from '../runtime.js';
import { examples } from '../help.js';
import { table } from '../format.js';
import { CancelledError, CliError } from '../errors.js';
import { clientVersion } from '../version.js';
import { resolveAddress } from '../host.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import type { HealthCheckResponse } from '../messages.js';

export function registerSystemCommands(program: Command): void {
  examples(program.command('health').description('Check the daemon, hypervisor, registry and auth server')
    .action(action(async (cli) => {
      const res = await cli.daemon().call('HealthCheck', {}, { timeoutSeconds: 30 });
      cli.result(res, (r) => `Daemon ${r.status} (version ${r.version || 'unknown'}, context ${r.context || '-'})\n` +
        table(['COMPONENT', 'STATUS', 'LATENCY', 'PLUGIN', 'MESSAGE'],
          r.components.map((c) => [c.name, c.status, `${c.latencyMs}ms`, c.plugin || '-', c.message || ''])));
    })), ['{cmd}', '{cmd} --json | jq \'.components[] | select(.status != "SERVING")\'']);

  examples(program.command('version').description('Show the client and daemon versions')
    .action(action(async (cli) => {
      const client = { version: clientVersion(), node: process.version, platform: `${process.platform}/${process.arch}` };
      const address = resolveAddress(cli.globals.host, cli.io.env).target;
      let daemon: { version: string; status: string; context: string; address: string } | null = null;
      let error: { code: string; message: string } | undefined;
      try {
        const h = await cli.daemon().call('HealthCheck', {}, { timeoutSeconds: 10 });
        daemon = { version: h.version, status: h.status, context: h.context, address };
      } catch (err) {
        // The client's own version is still worth printing: that is half of what people ask `version` for.
        if (!(err instanceof CliError) || err instanceof CancelledError) throw err;
        error = { code: err.code, message: err.message };
      }
      cli.result({ client, daemon, ...(error ? { error } : {}) }, () => [
        'Client:', ` Version:  ${client.version}`, ` Node:     ${client.node}`, ` Platform: ${client.platform}`,
        'Daemon:',
        ...(daemon
          ? [` Version:  ${daemon.version}`, ` Status:   ${daemon.status}`, ` Context:  ${daemon.context || '-'}`, ` Address:  ${address}`]
          : [` ${error?.message ?? 'not reachable'}`]),
      ].join('\n'));
    })), ['{cmd}', '{cmd} --json']);

  examples(program.command('events').description('Stream daemon events (VMs, images, networks, compose, contexts) as they happen')
    .option('--type <type...>', 'only these types: vm, image, network, compose, context, daemon')
    .option('--name <name...>', 'only events about these names')
    .option('--since-now', 'skip the recent history the daemon replays first')
    .action(action(async (cli, opts: { type?: string[]; name?: string[]; sinceNow?: boolean }) => {
      // Runs until Ctrl-C (exit 130) or the daemon closes the stream; one line (or JSON object) per event.
      await cli.daemon().serverStream('Events', { types: opts.type ?? [], names: opts.name ?? [], sinceNow: Boolean(opts.sinceNow) }, (e) => {
        if (cli.json) cli.out(JSON.stringify(e));
        else {
          const attrs = Object.entries(e.attributes ?? {}).filter(([k]) => k !== 'request_id').map(([k, v]) => `${k}=${v}`).join(', ');
          cli.out(`${e.time} ${e.type} ${e.action} ${e.name}${attrs ? ` (${attrs})` : ''}`);
        }
      });
    })), ['{cmd}', '{cmd} --type vm --type image', '{cmd} --name web --json | jq .action']);

  const system = examples(program.command('system').description('Daemon-wide maintenance'), ['{cmd} check', '{cmd} check --verify-disks']);
  examples(system.command('check').description('Re-verify every blob, manifest and base disk of the local store; list orphans')
    .option('--verify-disks', 're-hash every base disk window too (reads every disk)')
    .action(action(async (cli, opts: { verifyDisks?: boolean }) => {
      const r = await cli.daemon().call('SystemCheck', { verifyDisks: Boolean(opts.verifyDisks) });
      cli.result(r, (c) => [
        `${c.ok ? 'OK' : 'PROBLEMS FOUND'}: ${c.checkedBlobs} blobs and ${c.checkedDisks} base disks checked`,
        ...c.corruptBlobs.map((b) => `corrupt blob: ${b}`),
        ...c.missingBlobs.map((b) => `missing blob: ${b}`),
        ...c.corruptDisks.map((d) => `corrupt base disk: ${d}`),
        `orphans (removed by "vmr gc"): ${c.orphanBlobs.length} blobs, ${c.orphanManifests.length} manifests, ${c.orphanDisks.length} base disks; ${c.partialIngests} partial downloads`,
        ...(c.partialIngestList ?? []).map((p) => `partial download: ${p.digest} ${p.size} bytes, ${p.ageSeconds}s old`),
      ].join('\n'));
      if (!r.ok) process.exitCode = 1;
    })), ['{cmd}', '{cmd} --verify-disks --json']);

  examples(program.command('completion').description('Print a shell completion script')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: string) => {
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    }), [
    'source <({cmd} bash)            # bash, this shell',
    '{cmd} bash > /etc/bash_completion.d/vmr',
    '{cmd} zsh > "${fpath[1]}/_vmr"   # zsh',
  ]);
}
