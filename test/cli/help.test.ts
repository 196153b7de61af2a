// --help with examples on every command, completion scripts that really complete, and a guard that
// every RPC of the contract is reachable from some command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { vmServiceMethods } from '../../src/cli/wire/methods.js';
import { repoRoot } from '../support/services.js';
import { requireService } from '../support/services.js';
import { vmr } from './support/runVmr.js';

const pexec = promisify(execFile);

function allCommands(cmd: Command, out: Command[] = []): Command[] {
  out.push(cmd);
  for (const c of cmd.commands) allCommands(c, out);
  return out;
}

test('every command\'s --help ends with examples that start with its own path', () => {
  const program = buildProgram();
  const commands = allCommands(program);
  assert.ok(commands.length >= 56, `the tree has all the commands (${commands.length})`);
  for (const cmd of commands) {
    let text = '';
    cmd.configureOutput({ writeOut: (s) => { text += s; }, writeErr: (s) => { text += s; } });
    cmd.outputHelp();
    const names: string[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
    assert.match(text, /\nExamples:\n {2}\$ /, `${names.join(' ')} --help has examples`);
    if (names.length > 1) assert.ok(text.includes(names.join(' ')), `${names.join(' ')} examples use the right path`);
  }
});

test('the docker-style names and the image group aliases exist', () => {
  const program = buildProgram();
  const paths = new Set(allCommands(program).flatMap((c) => {
    const names: string[] = [];
    for (let p: Command | null = c.parent; p && p.parent; p = p.parent) names.unshift(p.name());
    return [c.name(), ...c.aliases()].map((n) => [...names, n].join(' '));
  }));
  for (const p of ['login', 'logout', 'register', 'pull', 'push', 'import', 'export', 'images', 'rmi', 'tag', 'inspect',
    'validate', 'gc', 'image ls', 'image pull', 'image push', 'image rm', 'image tag', 'image inspect', 'image import',
    'image export', 'image prune', 'context create', 'context update', 'context use', 'context ls', 'context rm', 'context show',
    'run', 'start', 'stop', 'restart', 'rm', 'ps', 'ls', 'network ls', 'network inspect', 'network create', 'network start',
    'network stop', 'network rm', 'compose up', 'compose down', 'compose ps', 'compose restart', 'compose config', 'health',
    'version', 'completion']) {
    assert.ok(paths.has(p), `vmr ${p} exists`);
  }
});

test('every RPC of VMService is called by some command', async () => {
  const methods = [...vmServiceMethods().keys()];
  assert.ok(methods.length >= 39);
  const dir = path.join(repoRoot, 'src/cli');
  const files = (await fs.readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const source = (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')))).join('\n');
  const missing = methods.filter((m) => !source.includes(`'${m}'`));
  assert.deepEqual(missing, [], 'RPCs no command calls');
});

test('bash completion completes commands, aliases\' options and global options', async () => {
  const r = await vmr(['completion', 'bash']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /complete -o bashdefault -o default -F _vmr vmr\n$/);
  const complete = async (words: string[]) => {
    const script = `${r.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vmr; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return (await pexec('bash', ['-c', script])).stdout.trim().split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(await complete(['vmr', 'ima']), ['image', 'images']);
  assert.deepEqual(await complete(['vmr', 'image', 'l']), ['list', 'load', 'ls']);
  assert.deepEqual(await complete(['vmr', 'compose', 'u']), ['up']);
  assert.deepEqual(await complete(['vmr', 'image', 'list', '--d']), ['--digests']);
  assert.deepEqual(await complete(['vmr', '--host', 'unix:///x', 'network', 'create', '--su']), ['--subnet']);
  assert.ok((await complete(['vmr', 'ps', '--']))
    .includes('--json'), 'global options complete after a subcommand');
  assert.deepEqual(await complete(['vmr', 'import', './']), [], 'arguments fall back to file names (-o default)');
});

test('zsh completion completes commands with descriptions, options, and files for arguments', async () => {
  await requireService('packages'); // zsh comes from the apt list
  const r = await vmr(['completion', 'zsh']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^#compdef vmr\n/);
  // compdef/_describe/compadd/_files are zsh's completion system; stand-ins print what they were given.
  const complete = async (words: string[]) => {
    const script = `compdef() { :; }\n${r.stdout}\n_describe() { local n=\${@[-1]}; print -rl -- \${(P)n}; }
compadd() { shift; print -rl -- "$@"; }\n_files() { print FILES; }
words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _vmr`;
    return (await pexec('zsh', ['-f', '-c', script])).stdout.trim().split('\n');
  };
  const image = await complete(['vmr', 'image', '']);
  assert.ok(image.includes('ls:List local images'), image.join('\n'));
  assert.ok(image.includes('prune:Remove blobs, manifests and base disks no image references'));
  assert.ok((await complete(['vmr', 'image', 'list', '-'])).includes('--digests'));
  assert.ok((await complete(['vmr', 'compose', 'up', '-'])).includes('--force-recreate'));
  assert.deepEqual(await complete(['vmr', 'import', './x']), ['FILES']);
});

test('vmr completion with an unknown shell is a usage error', async () => {
  const r = await vmr(['completion', 'fish']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Allowed choices are bash, zsh/);
});

test('bare vmr prints usage on stdout and succeeds; a closed pipe is not a crash', async () => {
  const bare = await vmr([]);
  assert.equal(bare.code, 0);
  assert.match(bare.stdout, /^Usage: vmr \[options\] \[command\]/);
  const group = await vmr(['network']);
  assert.equal(group.code, 0, 'a group without a subcommand shows its help, like docker');
  assert.match(group.stderr, /Usage: vmr network/);
  const { stdout, stderr } = await pexec('bash', ['-c', `"${process.execPath}" "${path.join(repoRoot, 'dist/src/bin/vmr.js')}" help run | true; echo "rc=\${PIPESTATUS[0]}"`]);
  // `true` exits without reading, so every write of the help text meets a closed pipe.
  assert.equal(stdout, 'rc=0\n');
  assert.doesNotMatch(stderr, /EPIPE/);
});
