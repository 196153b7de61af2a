import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import type { ComposeServiceStatus, ComposeSource } from '../../ports/compose.js';
import type { HostPaths } from '../../hostfs/HostPaths.js';
import type { PluginHost } from '../../plugins/PluginHost.js';
import { composePort } from '../../plugins/refs.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { checkSshKeys } from '../../vms/cloudInitKeys.js';
import { issueToWire, required, type Wire } from './mappers.js';

const svc = (s: ComposeServiceStatus): Wire => ({ ...s });

function source(req: Wire, hostPaths?: HostPaths): ComposeSource {
  const baseDir = req.baseDir || '';
  if (baseDir && !path.isAbsolute(baseDir)) throw new InvalidArgumentError('base_dir must be an absolute path on the daemon host', { field: 'base_dir' });
  return {
    content: required(req.content, 'content', 'content (the VMCompose YAML)'), baseDir, env: { ...(req.env ?? {}) }, projectName: req.projectName ?? '',
    files: { ...(req.files ?? {}) },
    // A *_file the client did not send is a read of the daemon's host: only under paths.import.
    readFile: baseDir && hostPaths ? (rel, field, max) => hostPaths.readWithin(baseDir, rel, field, max) : undefined,
  };
}

export function composeHandlers(rt: RpcRuntime, plugins: PluginHost, hostPaths?: HostPaths) {
  const compose = () => plugins.get(composePort);
  return {
    ComposeUp: rt.unary<Wire, Wire>('ComposeUp', async (req, ctx) => {
      const r = await compose().up(source(req, hostPaths), { services: req.services ?? [], forceRecreate: Boolean(req.forceRecreate), timeoutSeconds: req.timeoutSeconds || 300, sshAuthorizedKeys: checkSshKeys(req.sshAuthorizedKeys, 'ssh_authorized_keys'), wait: Boolean(req.wait) }, ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeDown: rt.unary<Wire, Wire>('ComposeDown', async (req, ctx) => {
      const r = await compose().down(required(req.projectName, 'project_name'), { removeNetworks: Boolean(req.removeNetworks) }, ctx);
      return { project: r.project, services: r.services.map(svc), removedNetworks: r.removedNetworks };
    }),
    ComposePs: rt.unary<Wire, Wire>('ComposePs', async (req, ctx) => {
      const r = await compose().ps(required(req.projectName, 'project_name'), ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeRestart: rt.unary<Wire, Wire>('ComposeRestart', async (req, ctx) => {
      const r = await compose().restart(required(req.projectName, 'project_name'), { services: req.services ?? [] }, ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeValidate: rt.unary<Wire, Wire>('ComposeValidate', async (req, ctx) => {
      const r = await compose().validate(source(req, hostPaths), ctx);
      return { valid: r.valid, errors: r.errors.map(issueToWire), warnings: r.warnings.map(issueToWire), services: r.services, project: r.project };
    }),
  };
}
