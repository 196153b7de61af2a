// The `vmr` command tree and its entry point: global options, every command group, exit codes.
import { Command, CommanderError } from 'commander';
import { examples } from './help.js';
import { ExitCode } from './exitCodes.js';
import { currentCli } from './runtime.js';
import { defaultSocketPath } from './host.js';
import { clientVersion } from './version.js';
import { registerAuthCommands } from './commands/auth.js';
import { registerImageCommands } from './commands/images.js';
import { registerContextCommands } from './commands/contexts.js';
import { registerVmCommands } from './commands/vms.js';
import { registerNetworkCommands } from './commands/networks.js';
import { registerComposeCommands } from './commands/compose.js';
import { registerSystemCommands } from './commands/system.js';
import { registerSshCommands } from './commands/ssh.js';
import { registerConsoleCommands } from './commands/logs.js';

export function buildProgram(): Command {
  const program = new Command('vmr')
    .description('Command-line client of the vmregistry daemon: VM images in OCI registries, VMs, networks, compose.')
    .version(clientVersion(), '-v, --version', 'print the client version')
    .option('-H, --host <address>', `daemon socket, unix:///path (env VMR_HOST; default unix://${defaultSocketPath()})`)
    .option('--json', 'print the daemon\'s response as JSON (errors as {"error":{code,message}})')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true });
  registerImageCommands(program);
  registerVmCommands(program);
  registerSshCommands(program);
  registerConsoleCommands(program);
  registerNetworkCommands(program);
  registerComposeCommands(program);
  registerContextCommands(program);
  registerAuthCommands(program);
  registerSystemCommands(program);
  examples(program, [
    'vmr pull localhost:5000/demo/debian:12',
    'vmr run --name web --wait-ip localhost:5000/demo/debian:12',
    'vmr ps',
    'vmr --json images',
    'VMR_HOST=unix:///tmp/vmr.sock vmr health',
  ]);
  program.addHelpText('afterAll', `
Exit codes: 0 ok, 1 the daemon refused (its message is printed), 2 usage error, 3 daemon unreachable, 130 cancelled (Ctrl-C).`);
  return program;
}

/** Runs the CLI and resolves with its exit code; never throws for user-facing failures. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  // `vmr … | head` closes the pipe early: stop quietly instead of dying on EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok);
      throw err;
    });
  }
  if (argv.length <= 2) {
    // Bare `vmr`, like bare `docker`: usage on stdout, success.
    program.outputHelp();
    return ExitCode.ok;
  }
  let interrupted = false;
  const giveUp = () => {
    process.stderr.write('cancelled\n');
    process.exit(ExitCode.cancelled);
  };
  process.on('SIGINT', () => {
    const cli = currentCli();
    // A second Ctrl-C, or one before any call started, ends the process at once.
    if (interrupted || !cli || !cli.cancel()) giveUp();
    interrupted = true;
    setTimeout(giveUp, 5000).unref();
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // 'commander.help' is a command group run without a subcommand (`vmr image`): its help, like docker.
    if (err instanceof CommanderError) return err.exitCode === 0 || err.code === 'commander.help' ? ExitCode.ok : ExitCode.usage;
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
}
