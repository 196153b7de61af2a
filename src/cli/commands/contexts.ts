// `vmr context …`: named places (registry, auth server, libvirt URI) the daemon's calls go to.
import type { Command } from 'commander';
import { action } from '../runtime.js';
import { examples } from '../help.js';
import { eachTarget } from '../batch.js';
import { relativeTime, table } from '../format.js';
import { required } from '../errors.js';
import type { ContextInfo } from '../messages.js';

/** option attribute → ContextInfo field (camelCase) and its snake_case update_mask name. */
const fields: [opt: string, field: keyof ContextInfo, mask: string][] = [
  ['description', 'description', 'description'],
  ['registry', 'registryUrl', 'registry_url'],
  ['authServer', 'authServer', 'auth_server'],
  ['authClientId', 'authClientId', 'auth_client_id'],
  ['libvirtUri', 'libvirtUri', 'libvirt_uri'],
  ['insecureRegistry', 'insecureRegistry', 'insecure_registry'],
];

function contextOptions(cmd: Command, update: boolean): Command {
  cmd.option('--description <text>', 'free text')
    .option('--registry <url>', 'registry for references without a host, e.g. localhost:5000')
    .option('--auth-server <url>', 'OIDC issuer URL for login and registry credentials')
    .option('--auth-client-id <id>', 'OAuth client id registered at the auth server')
    .option('--libvirt-uri <uri>', 'libvirt URI, e.g. qemu:///system or qemu+ssh://host/system')
    .option('--insecure-registry', 'allow plain HTTP (and unverified TLS) to the registry');
  if (update) cmd.option('--no-insecure-registry', 'require HTTPS with verified TLS again');
  return cmd;
}

function describe(c: ContextInfo): string {
  const rows: [string, string][] = [
    ['Name', c.name + (c.current ? ' (current)' : '')], ['Description', c.description], ['Registry', c.registryUrl],
    ['Insecure registry', c.insecureRegistry ? 'yes' : 'no'], ['Auth server', c.authServer],
    ['Auth client id', c.authClientId], ['Libvirt URI', c.libvirtUri], ['Created', relativeTime(c.created)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v || '-'}`).join('\n');
}

export function registerContextCommands(program: Command): void {
  const context = program.command('context').description('Manage contexts (registry, auth server and libvirt URI sets)');
  examples(context, ['{cmd} ls', '{cmd} create --registry localhost:5000 --insecure-registry --use lab']);

  examples(contextOptions(context.command('create').description('Create a context'), false)
    .argument('<name>', 'letters, digits, "-", "_", "."; 1–63 characters')
    .option('--use', 'make it the current context')
    .action(action(async (cli, opts, name: string) => {
      const ctx: Record<string, unknown> = { name };
      for (const [opt, field] of fields) if (opts[opt] !== undefined) ctx[field] = opts[opt];
      const res = await cli.daemon().call('ContextCreate',
        { context: ctx, use: Boolean(opts.use) });
      cli.result(res, (r) => required(r.context, 'context').name);
    })), [
    '{cmd} --registry localhost:5000 --insecure-registry lab',
    '{cmd} --registry https://registry.example --auth-server https://id.example/realms/vm --auth-client-id vmr --use prod',
  ]);

  examples(contextOptions(context.command('update').description('Change a context (only the options given)'), true)
    .argument('<name>', 'context to change')
    .action(action(async (cli, opts, name: string) => {
      const ctx: Record<string, unknown> = { name };
      const mask: string[] = [];
      for (const [opt, field, m] of fields) {
        if (opts[opt] === undefined) continue;
        ctx[field] = opts[opt];
        mask.push(m);
      }
      const res = await cli.daemon().call('ContextUpdate',
        { name, context: ctx, updateMask: mask });
      cli.result(res, (r) => required(r.context, 'context').name);
    })), ['{cmd} --registry localhost:5001 lab', '{cmd} --no-insecure-registry lab']);

  examples(context.command('use').description('Switch the current context')
    .argument('<name>', 'context name')
    .action(action(async (cli, _opts, name: string) => {
      const res = await cli.daemon().call('ContextUse', { name });
      cli.result(res, (r) => `Current context is now "${required(r.context, 'context').name || name}"`);
    })), ['{cmd} lab', '{cmd} default']);

  examples(context.command('ls').alias('list').description('List contexts')
    .option('-q, --quiet', 'only names')
    .action(action(async (cli, opts) => {
      const res = await cli.daemon().call('ContextList', {});
      if (opts.quiet && !cli.json) {
        if (res.contexts.length) cli.out(res.contexts.map((c) => c.name).join('\n'));
        return;
      }
      cli.result(res, (r) => table(['NAME', 'DESCRIPTION', 'REGISTRY', 'AUTH SERVER', 'LIBVIRT URI'],
        r.contexts.map((c) => [c.name + (c.current || c.name === r.current ? ' *' : ''), c.description || '',
          c.registryUrl || '-', c.authServer || '-', c.libvirtUri || '-'])));
    })), ['{cmd}', '{cmd} --json']);

  examples(context.command('rm').alias('remove').description('Remove a context (not "default", not the current one)')
    .argument('<name...>', 'context names')
    .action(action(async (cli, _opts, names: string[]) => {
      await eachTarget(cli, names, (name) => cli.daemon().call('ContextRemove', { name }),
        (name) => name);
    })), ['{cmd} lab']);

  examples(context.command('show').description('Print the current context\'s name')
    .action(action(async (cli) => {
      const res = await cli.daemon().call('ContextCurrent', {});
      cli.result(res, (r) => required(r.context, 'context').name);
    })), ['{cmd}', '{cmd} --json']);

  examples(context.command('inspect').description('Show the current context in detail')
    .action(action(async (cli) => {
      const res = await cli.daemon().call('ContextCurrent', {});
      cli.result(res, (r) => describe(required(r.context, 'context')));
    })), ['{cmd}']);
}
