// `vmr login|logout|register`: the daemon talks to the OIDC provider and keeps the session; the CLI
// only collects the password (or walks the user through the device flow).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples } from '../help.js';
import { CancelledError, UsageError } from '../errors.js';
import { promptHidden, readStdin } from '../prompt.js';
import type { LoginResponse } from '../messages.js';

const DEFAULT_DEVICE_INTERVAL = 5;

async function password(cli: Cli, opts: Record<string, any>, what = 'Password: '): Promise<string> {
  if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('--password and --password-stdin are mutually exclusive');
  if (typeof opts.password === 'string') return opts.password;
  if (opts.passwordStdin) return readStdin(cli.io);
  return promptHidden(cli.io, what);
}

async function deviceLogin(cli: Cli, server: string): Promise<LoginResponse> {
  const daemon = cli.daemon();
  const start = await daemon.call('Login', { deviceFlow: true, server });
  if (!start.deviceCode) return start;
  cli.note(`To log in, open ${start.verificationUri} and enter the code ${start.userCode}`);
  if (start.verificationUriComplete) cli.note(`(or open ${start.verificationUriComplete})`);
  cli.note('Waiting for approval… (Ctrl-C to give up)');
  let interval = start.interval > 0 ? start.interval : DEFAULT_DEVICE_INTERVAL;
  for (;;) {
    try {
      await sleep(interval * 1000, undefined, { signal: daemon.signal });
    } catch {
      throw new CancelledError();
    }
    const res = await daemon.call('Login', { deviceCode: start.deviceCode, server });
    if (!res.pending) return res;
    if (res.interval > 0) interval = res.interval;
  }
}

export function registerAuthCommands(program: Command): void {
  examples(program.command('login').description('Log in to the current context\'s auth server (or SERVER)')
    .argument('[server]', 'OIDC issuer URL (default: the current context\'s auth server)')
    .option('-u, --username <name>', 'user name (password grant); without it, the device flow is used')
    .option('-p, --password [password]', 'password; prompted for on a terminal when given without a value')
    .option('--password-stdin', 'read the password from stdin')
    .option('--device', 'log in through the browser (OAuth device authorization grant)')
    .action(action(async (cli, opts, server?: string) => {
      let res: LoginResponse;
      if (opts.device || !opts.username) {
        if (opts.username) throw new UsageError('--device and --username are mutually exclusive');
        res = await deviceLogin(cli, server ?? '');
      } else {
        const pass = await password(cli, { ...opts, password: opts.password === true ? undefined : opts.password });
        res = await cli.daemon().call('Login', { username: opts.username, password: pass, server: server ?? '' });
      }
      cli.result(res, (r) => `Login Succeeded${r.username ? ` as ${r.username}` : ''}${r.server ? ` at ${r.server}` : ''}` +
        `${r.expiresAt ? ` (token valid until ${r.expiresAt})` : ''}`);
    })), [
    '{cmd}',
    '{cmd} --device https://id.example/realms/vm',
    'echo "$PASSWORD" | {cmd} -u alice --password-stdin',
    '{cmd} -u alice -p',
  ]);

  examples(program.command('logout').description('Log out: revoke and forget the stored session')
    .argument('[server]', 'OIDC issuer URL (default: the current context\'s auth server)')
    .action(action(async (cli, _opts, server?: string) => {
      const res = await cli.daemon().call('Logout', { server: server ?? '' });
      cli.result(res, (r) => r.message || 'Logged out');
    })), ['{cmd}', '{cmd} https://id.example/realms/vm']);

  examples(program.command('register').description('Create a user account at the current context\'s auth server')
    .argument('[username]', 'desired user name')
    .option('-u, --username <name>', 'desired user name')
    .option('--email <address>', 'primary e-mail address')
    .option('--display-name <name>', 'display name')
    .option('-p, --password [password]', 'password; prompted for on a terminal when given without a value')
    .option('--password-stdin', 'read the password from stdin')
    .action(action(async (cli, opts, positional?: string) => {
      const username = positional ?? opts.username;
      if (!username) throw new UsageError('a user name is required: vmr register USERNAME');
      const pass = await password(cli, { ...opts, password: opts.password === true ? undefined : opts.password }, 'Choose a password: ');
      const res = await cli.daemon().call('Register', {
        username, password: pass, email: opts.email ?? '', displayName: opts.displayName ?? '',
      });
      cli.result(res, (r) => `Registered ${r.username} (id ${r.userId})${r.message ? `: ${r.message}` : ''}`);
    })), ['{cmd} alice --email alice@example.com', 'echo "$PASSWORD" | {cmd} -u alice --password-stdin']);
}
