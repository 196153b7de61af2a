// Which successful RPC publishes which event. One table, used by RpcRuntime after a call succeeds, so
// handlers stay free of event plumbing. `res` is the unary response or a stream's final message.
import type { EventInit } from './EventBus.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;
type Mapper = (req: Msg, res: Msg) => EventInit | undefined;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const attrs = (o: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [k, str(v)]));

const vm = (action: string): Mapper => (req, res) =>
  ({ type: 'vm', action, name: str(res.name || req.vm), attributes: attrs({ id: res.vmId, status: res.status }) });

const image = (action: string, pick: (res: Msg) => Msg = (r) => r): Mapper => (req, res) => {
  const r = pick(res) ?? {};
  return { type: 'image', action, name: str(r.reference || req.reference), attributes: attrs({ digest: r.digest, size: r.size, transferred: r.transferred }) };
};

const network = (action: string): Mapper => (req, res) =>
  ({ type: 'network', action, name: str(res.network?.name || req.name), attributes: attrs({ active: res.network?.active }) });

const compose = (action: string): Mapper => (req, res) =>
  ({ type: 'compose', action, name: str(res.project || req.projectName), attributes: attrs({ services: Array.isArray(res.services) ? res.services.length : undefined }) });

const context = (action: string): Mapper => (req, res) =>
  ({ type: 'context', action, name: str(res.context?.name || req.name || req.context?.name) });

export const RPC_EVENTS: Readonly<Record<string, Mapper>> = {
  RunVM: vm('run'),
  StartVM: vm('start'),
  StopVM: vm('stop'),
  RestartVM: vm('restart'),
  DeleteVM: vm('delete'),

  PullImage: image('pull'),
  PullImageWithProgress: image('pull', (r) => r.pull),
  PushImage: image('push'),
  PushImageWithProgress: image('push', (r) => r.push),
  ImportImage: image('import'),
  ImportImageStream: image('import'),
  ImportImageFile: image('import', (r) => r.import),
  ExportImage: (req, res) => ({ ...image('export')(req, res)!, attributes: attrs({ digest: res.digest, output_path: res.outputPath }) }),
  ExportImageWithProgress: (req, res) => ({ ...image('export')(req, res.export ?? {})!, attributes: attrs({ digest: res.export?.digest, output_path: res.export?.outputPath }) }),
  ExportImageStream: (req, res) => ({ ...image('export')(req, res.done ?? {})!, attributes: attrs({ digest: res.done?.digest, format: req.format, streamed: 'true' }) }),
  LoadImage: image('load'),
  TagImage: (req, res) => ({ type: 'image', action: 'tag', name: str(res.reference || req.target), attributes: attrs({ source: req.source, digest: res.digest }) }),
  DeleteImage: (req) => ({ type: 'image', action: 'delete', name: str(req.reference) }),
  GarbageCollect: (req, res) => ({ type: 'image', action: 'gc', name: '', attributes: attrs({ dry_run: req.dryRun ? 'true' : undefined, freed_bytes: res.freedBytes }) }),

  NetworkCreate: network('create'),
  NetworkActivate: network('activate'),
  NetworkDeactivate: network('deactivate'),
  NetworkDelete: network('delete'),

  ComposeUp: compose('up'),
  ComposeDown: compose('down'),
  ComposeRestart: compose('restart'),

  ContextCreate: context('create'),
  ContextUpdate: context('update'),
  ContextUse: context('use'),
  ContextRemove: context('remove'),
};

/** The event a successful call of `method` publishes, if any; attributes get `source` and `request_id`. */
export function eventFor(method: string, req: unknown, res: unknown, requestId?: string): EventInit | undefined {
  const m = RPC_EVENTS[method];
  if (!m) return undefined;
  const ev = m((req ?? {}) as Msg, (res ?? {}) as Msg);
  if (!ev) return undefined;
  return { ...ev, attributes: { ...(ev.attributes ?? {}), source: 'api', ...(requestId ? { request_id: requestId } : {}) } };
}
