// Long image operations: a *WithProgress server stream rendered by ProgressRenderer, ending in one
// result event. An older daemon without the streaming RPC gets the plain unary one instead.
import type { Cli } from './runtime.js';
import { ServerError } from './errors.js';
import { ProgressRenderer } from './progress.js';
import type { ImageOperationEvent, Req, RpcName } from './messages.js';

export function progressFor(cli: Cli, quiet: boolean): ProgressRenderer | undefined {
  const tty = Boolean(cli.io.stderr.isTTY);
  // Under --json on a pipe, stderr is probably captured with stdout: keep it quiet.
  if (quiet || (cli.json && !tty)) return undefined;
  return new ProgressRenderer(cli.io.stderr, { tty, columns: cli.io.stderr.columns ?? 80 });
}

/** Each progress RPC: the event member holding its result, and the unary RPC an older daemon has instead. */
interface Operations {
  PullImageWithProgress: { result: 'pull'; fallback: 'PullImage' };
  PushImageWithProgress: { result: 'push'; fallback: 'PushImage' };
  ExportImageWithProgress: { result: 'export'; fallback: 'ExportImage' };
  ImportImageFile: { result: 'import'; fallback: never };
}
type ResultOf<M extends keyof Operations> = NonNullable<ImageOperationEvent[Operations[M]['result']]>;

export async function imageOperation<M extends keyof Operations>(
  cli: Cli,
  method: M,
  request: Req<M>,
  result: Operations[M]['result'],
  opts: { quiet?: boolean; fallback?: Operations[M]['fallback'] } = {},
): Promise<ResultOf<M>> {
  type R = ResultOf<M>;
  const daemon = cli.daemon();
  const renderer = progressFor(cli, Boolean(opts.quiet));
  let final: R | undefined;
  let events = 0;
  try {
    await daemon.serverStream<M>(method, request, (msg) => {
      // Every RPC in Operations streams ImageOperationEvent; TypeScript cannot see it through the generic M.
      const ev = msg as ImageOperationEvent;
      events++;
      const kind = ev.event ?? (ev.progress ? 'progress' : undefined);
      if (kind === 'progress' && ev.progress) renderer?.update(ev.progress);
      else if (kind === result) final = ev[result] as R;
    });
  } catch (err) {
    renderer?.abort();
    if (opts.fallback && events === 0 && err instanceof ServerError && err.code === 'UNIMPLEMENTED') {
      // The fallback takes the same request message and replies with the event's result message.
      return daemon.call<RpcName>(opts.fallback, request as Req<RpcName>) as Promise<R>;
    }
    throw err;
  }
  renderer?.done();
  if (final === undefined) throw new ServerError('INTERNAL', `the daemon ended ${method} without a result`);
  return final;
}
