// Long image operations: a *WithProgress server stream rendered by ProgressRenderer, ending in one
// result event. An older daemon without the streaming RPC gets the plain unary one instead.
import type { Cli } from './runtime.js';
import { ServerError } from './errors.js';
import { ProgressRenderer } from './progress.js';
import type { ImageOperationEvent } from './messages.js';

export function progressFor(cli: Cli, quiet: boolean): ProgressRenderer | undefined {
  const tty = Boolean(cli.io.stderr.isTTY);
  // Under --json on a pipe, stderr is probably captured with stdout: keep it quiet.
  if (quiet || (cli.json && !tty)) return undefined;
  return new ProgressRenderer(cli.io.stderr, { tty, columns: cli.io.stderr.columns ?? 80 });
}

export async function imageOperation<R>(
  cli: Cli,
  method: string,
  request: object,
  result: 'pull' | 'push' | 'export' | 'import',
  opts: { quiet?: boolean; fallback?: string } = {},
): Promise<R> {
  const daemon = cli.daemon();
  const renderer = progressFor(cli, Boolean(opts.quiet));
  let final: R | undefined;
  let events = 0;
  try {
    await daemon.serverStream<ImageOperationEvent>(method, request, (ev) => {
      events++;
      const kind = ev.event ?? (ev.progress ? 'progress' : undefined);
      if (kind === 'progress' && ev.progress) renderer?.update(ev.progress);
      else if (kind === result) final = ev[result] as R;
    });
  } catch (err) {
    renderer?.abort();
    if (opts.fallback && events === 0 && err instanceof ServerError && err.code === 'UNIMPLEMENTED') {
      return daemon.unary<R>(opts.fallback, request);
    }
    throw err;
  }
  renderer?.done();
  if (final === undefined) throw new ServerError('INTERNAL', `the daemon ended ${method} without a result`);
  return final;
}
