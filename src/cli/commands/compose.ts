// `vmr compose up|down|ps|restart|config`: the VMCompose file is read here and sent as text, with the
// contents of its cloud_init *_file files and the variables for ${VAR} interpolation (the daemon reads
// no path of the user's).
import fs from 'node:fs';
import { injectedKeys } from '../sshKeyOption.js';
import path from 'node:path';
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { collect, examples, positiveInt } from '../help.js';
import { table } from '../format.js';
import { parseEnvFile, readText } from '../files.js';
import { UsageError } from '../errors.js';
import type { ComposeServiceStatus, Res, ValidationIssue } from '../messages.js';
import { registerComposeAccessCommands } from './composeAccess.js';
import { upAndWait } from './composeWait.js';

export const defaultComposeFiles = ['vmcompose.yaml', 'vmcompose.yml', 'compose.yaml'];

interface ComposeInput {
  file: string;
  content: string;
  baseDir: string;
  env: Record<string, string>;
  projectName: string;
  /** cloud_init *_file contents, read here with the user's permissions and sent with the request. */
  files: Record<string, string>;
}

const MAX_INLINE_FILE = 4 * 1024 * 1024;

/**
 * The daemon never reads the user's files: every `services.*.cloud_init.*_file` (after ${VAR}
 * interpolation, as the daemon will see it) is read here, relative to the compose file. A file that
 * cannot be read is left out; the daemon then reports it with the service and line.
 */
async function inlineFiles(content: string, baseDir: string, env: Record<string, string>): Promise<Record<string, string>> {
  const [{ parse }, { interpolate }] = await Promise.all([import('yaml'), import('../../plugins/compose/interpolate.js')]);
  let doc: unknown;
  try {
    doc = parse(content, { maxAliasCount: 100 });
  } catch {
    return {}; // the daemon reports the syntax error with its line
  }
  const files: Record<string, string> = {};
  const services = (doc as { services?: unknown } | null)?.services;
  if (!services || typeof services !== 'object') return files;
  for (const def of Object.values(services as Record<string, unknown>)) {
    const ci = (def as { cloud_init?: unknown } | null)?.cloud_init;
    if (!ci || typeof ci !== 'object') continue;
    for (const [key, value] of Object.entries(ci as Record<string, unknown>)) {
      if (!key.endsWith('_file') || typeof value !== 'string') continue;
      const rel = value.includes('$') ? interpolate(value, env).value : value;
      if (!rel || path.isAbsolute(rel) || rel in files) continue;
      try {
        const abs = path.resolve(baseDir, rel);
        const st = await fs.promises.stat(abs);
        if (!st.isFile() || st.size > MAX_INLINE_FILE) continue;
        files[rel] = await fs.promises.readFile(abs, 'utf8');
      } catch { /* reported by the daemon */ }
    }
  }
  return files;
}

function findComposeFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit) return path.resolve(cwd, explicit);
  return defaultComposeFiles.map((f) => path.join(cwd, f)).find((f) => fs.existsSync(f));
}

/**
 * The shell's environment wins over --env-file entries, as in docker compose. Without --env-file, a
 * `.env` beside the compose file is read when present.
 */
async function composeEnv(cli: Cli, envFiles: string[], baseDir: string): Promise<Record<string, string>> {
  const files = envFiles.length ? envFiles : [path.join(baseDir, '.env')].filter((f) => fs.existsSync(f));
  const fromFiles: Record<string, string> = {};
  for (const f of files) Object.assign(fromFiles, parseEnvFile(await readText(f, 'env file'), f));
  const shell = Object.fromEntries(Object.entries(cli.io.env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return { ...fromFiles, ...shell };
}

async function loadCompose(cli: Cli, opts: Record<string, any>): Promise<ComposeInput> {
  const file = findComposeFile(process.cwd(), opts.file);
  if (!file) {
    throw new UsageError(`no ${defaultComposeFiles.join(', ')} in ${process.cwd()}; name one with -f FILE`);
  }
  const content = await readText(file, 'compose file');
  const baseDir = path.dirname(file);
  const env = await composeEnv(cli, opts.envFile ?? [], baseDir);
  return { file, content, baseDir, env, projectName: opts.projectName ?? '', files: await inlineFiles(content, baseDir, env) };
}

async function validate(cli: Cli, input: ComposeInput): Promise<Res<'ComposeValidate'>> {
  return cli.daemon().call('ComposeValidate',
    { content: input.content, files: input.files, env: input.env, projectName: input.projectName });
}

/** down/ps/restart need only the project: -p, else the name the daemon resolves from the compose file. */
export async function projectName(cli: Cli, opts: Record<string, any>): Promise<string> {
  if (opts.projectName) return opts.projectName;
  const input = await loadCompose(cli, opts).catch((err) => {
    if (err instanceof UsageError && !opts.file) {
      throw new UsageError(`no compose file in ${process.cwd()} to take the project name from; pass -p NAME or -f FILE`);
    }
    throw err;
  });
  const v = await validate(cli, input);
  if (!v.project) throw new UsageError(`the compose file ${input.file} resolves to no project name; pass -p NAME`);
  return v.project;
}

function servicesTable(services: ComposeServiceStatus[], withAction: boolean): string {
  // HEALTH only when some service has a healthcheck (and the daemon reports it).
  const withHealth = services.some((s) => s.health);
  const headers = ['SERVICE', 'VM', 'IMAGE', 'STATUS', ...(withHealth ? ['HEALTH'] : []), ...(withAction ? ['ACTION'] : []), 'IP ADDRESSES'];
  return table(headers, services.map((s) => [s.service, s.vmName, s.image || '-', s.status, ...(withHealth ? [s.health || '-'] : []),
    ...(withAction ? [s.action || '-'] : []), s.ipAddresses.join(',') || '-']));
}

function issueLines(issues: ValidationIssue[], kind: string): string[] {
  return issues.map((i) => `${kind}: ${i.path || '(document)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`);
}

export function registerComposeCommands(program: Command): void {
  const compose = program.command('compose').description('Run multi-VM projects from a VMCompose file')
    .option('-f, --file <file>', `compose file (default: ${defaultComposeFiles.join(', ')} in the current directory)`)
    .option('-p, --project-name <name>', 'project name (default: the file\'s `name`)')
    .option('--env-file <file>', 'variables for ${VAR} interpolation (repeatable; default: .env beside the file)', collect, []);
  examples(compose, ['{cmd} up', '{cmd} -f stack.yaml -p demo up web', '{cmd} down --remove-networks']);

  examples(compose.command('up').description('Create and start the project\'s VMs (idempotent)')
    .argument('[services...]', 'only these services (and their dependencies)')
    .option('-d, --detach', 'accepted for docker habits; VMs always run in the background')
    .option('--force-recreate', 'recreate VMs even when their definition did not change')
    .option('-t, --timeout <seconds>', 'wait this long for each dependency\'s condition (default 300)', positiveInt('--timeout'))
    .option('--no-ssh-key', 'do not give the VMs your SSH public key')
    .option('--wait', 'return once every service meets its condition (its healthcheck passes, if it has one), printing progress')
    .action(action(async (cli, opts, services: string[]) => {
      const input = await loadCompose(cli, { ...cli.globals, ...opts });
      const sshAuthorizedKeys = await injectedKeys(cli, opts);
      // Known before up starts: the progress poll needs it, and a rejected up must not sit unawaited meanwhile.
      const project = opts.wait ? input.projectName || (await validate(cli, input)).project : '';
      const up = cli.daemon().call('ComposeUp', {
        projectName: input.projectName, content: input.content, files: input.files, services,
        forceRecreate: Boolean(opts.forceRecreate), env: input.env, timeoutSeconds: opts.timeout ?? 0, sshAuthorizedKeys,
        wait: Boolean(opts.wait),
      });
      const res = opts.wait ? await upAndWait(cli, project, up) : await up;
      cli.result(res, (r) => `Project ${r.project}\n${servicesTable(r.services, true)}`);
    })), ['{cmd}', '{cmd} web', '{cmd} --env-file prod.env --force-recreate']);

  examples(compose.command('down').description('Remove the project\'s VMs (in reverse dependency order)')
    .option('--remove-networks', 'also remove the networks the project created')
    .action(action(async (cli, opts) => {
      const all = { ...cli.globals, ...opts };
      const res = await cli.daemon().call(
        'ComposeDown', { projectName: await projectName(cli, all), removeNetworks: Boolean(opts.removeNetworks) });
      cli.result(res, (r) => [
        ...r.services.map((s) => `Removed ${s.vmName}`),
        ...r.removedNetworks.map((n) => `Removed network ${n}`),
        r.services.length || r.removedNetworks.length ? '' : `Nothing to remove for project ${r.project}`,
      ].filter(Boolean).join('\n'));
    })), ['{cmd}', '{cmd} --remove-networks', 'vmr compose -p demo down']);

  examples(compose.command('ps').description('List the project\'s VMs')
    .option('-q, --quiet', 'only VM names')
    .option('--services', 'only service names')
    .action(action(async (cli, opts) => {
      const res = await cli.daemon().call(
        'ComposePs', { projectName: await projectName(cli, { ...cli.globals, ...opts }) });
      if ((opts.quiet || opts.services) && !cli.json) {
        const names = opts.services ? [...new Set(res.services.map((s) => s.service))] : res.services.map((s) => s.vmName);
        if (names.length) cli.out(names.join('\n'));
        return;
      }
      cli.result(res, (r) => servicesTable(r.services, false));
    })), ['{cmd}', '{cmd} -q', 'vmr compose -p demo ps --json']);

  examples(compose.command('restart').description('Restart the project\'s VMs')
    .argument('[services...]', 'only these services')
    .action(action(async (cli, _opts, services: string[]) => {
      const res = await cli.daemon().call('ComposeRestart',
        { projectName: await projectName(cli, { ...cli.globals }), services });
      cli.result(res, (r) => r.services.map((s) => `Restarted ${s.vmName}`).join('\n') || `Nothing to restart in ${r.project}`);
    })), ['{cmd}', '{cmd} web']);

  registerComposeAccessCommands(compose, projectName);

  examples(compose.command('config').alias('validate').description('Check the compose file and show what it resolves to')
    .option('-q, --quiet', 'only check; print nothing when valid')
    .option('--services', 'print the service names in start order')
    .action(action(async (cli, opts) => {
      const input = await loadCompose(cli, { ...cli.globals, ...opts });
      const res = await validate(cli, input);
      if (!res.valid) process.exitCode = 1;
      if (cli.json) return cli.result(res, () => undefined);
      const issues = [...issueLines(res.errors, 'error'), ...issueLines(res.warnings, 'warning')];
      if (issues.length) cli.note(issues.join('\n'));
      if (!res.valid) cli.note(`${path.relative(process.cwd(), input.file) || input.file}: invalid`);
      else if (opts.services) { if (res.services.length) cli.out(res.services.join('\n')); }
      else if (!opts.quiet) cli.out(`project: ${res.project}\nservices (start order): ${res.services.join(', ')}`);
    })), ['{cmd}', '{cmd} --services', 'vmr compose -f stack.yaml config -q']);
}
