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

/**
 * Every command group with the top-level words it registers. `vmr ps` builds only the group holding `ps`:
 * commander's objects for all ~80 commands are a large share of what the CLI itself costs at start
 * (issue 17); given the word, a group with a table of its commands (commandTable.ts) defines only that one.
 * test/cli/program.test.ts checks these words against what each group registers.
 */
export const COMMAND_GROUPS: { register: (program: Command, word?: string) => void; words: string[] }[] = [
  { register: registerImageCommands, words: ['pull', 'push', 'import', 'export', 'images', 'rmi', 'tag', 'inspect', 'validate', 'gc', 'image', 'save', 'load'] },
  { register: registerVmCommands, words: ['run', 'start', 'stop', 'restart', 'rm', 'ps', 'ls'] },
  { register: registerSshCommands, words: ['ssh', 'exec'] },
  { register: registerConsoleCommands, words: ['logs', 'console'] },
  { register: registerNetworkCommands, words: ['network'] },
  { register: registerComposeCommands, words: ['compose'] },
  { register: registerContextCommands, words: ['context'] },
  { register: registerAuthCommands, words: ['login', 'logout', 'register'] },
  { register: registerSystemCommands, words: ['health', 'version', 'events', 'system', 'completion'] },
];

/** Words that need the whole tree: help lists it, completion prints it. */
const WHOLE_TREE = new Set(['help', 'completion']);

/** The command word of `argv` (after the global options), or undefined when there is none. */
export function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (a === '--json' || a.startsWith('--host=') || (a.startsWith('-H') && a.length > 2)) continue;
    else return a.startsWith('-') ? undefined : a;
  }
  return undefined;
}

/** The program with every command, or (given the command line) only the group its command word is in. */
export function buildProgram(argv?: string[]): Command {
  const program = new Command('vmr')
    .description('Command-line client of the vmregistry daemon: VM images in OCI registries, VMs, networks, compose.')
    .version(clientVersion(), '-v, --version', 'print the client version')
    .option('-H, --host <address>', `daemon socket, unix:///path (env VMR_HOST; default unix://${defaultSocketPath()})`)
    .option('--json', 'print the daemon\'s response as JSON (errors as {"error":{code,message}})')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true });
  const word = argv && commandWord(argv.slice(2));
  const only = word && !WHOLE_TREE.has(word) ? COMMAND_GROUPS.find((g) => g.words.includes(word)) : undefined;
  // An unknown word gets the whole tree too, so commander can suggest the command meant.
  if (only) only.register(program, word);
  else for (const g of COMMAND_GROUPS) g.register(program);
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
  const program = buildProgram(argv);
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
