import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import type { ComposeRunner, ComposeServiceStatus, ComposeSource } from '../../ports/compose.js';
import type { HostPaths } from '../../hostfs/HostPaths.js';
import type { PortSlot } from '../../plugins/PortBindings.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { checkSshKeys } from '../../vms/cloudInitKeys.js';
import type { RequestOf } from '../messages.js';
import type * as pb from '../../../generated/proto/messages.js';
import { issueToWire, required } from './mappers.js';

const svc = (s: ComposeServiceStatus): pb.ComposeServiceStatus => ({ ...s });

function source(req: RequestOf<'ComposeUp'> | RequestOf<'ComposeValidate'>, hostPaths?: HostPaths): ComposeSource {
  const baseDir = req.baseDir || '';
  if (baseDir && !path.isAbsolute(baseDir)) throw new InvalidArgumentError('base_dir must be an absolute path on the daemon host', { field: 'base_dir' });
  return {
    content: required(req.content, 'content', 'content (the VMCompose YAML)'), baseDir, env: { ...(req.env ?? {}) }, projectName: req.projectName ?? '',
    files: { ...(req.files ?? {}) },
    // A *_file the client did not send is a read of the daemon's host: only under paths.import.
    readFile: baseDir && hostPaths ? (rel, field, max) => hostPaths.readWithin(baseDir, rel, field, max) : undefined,
  };
}

export function composeHandlers(rt: RpcRuntime, runner: PortSlot<ComposeRunner>, hostPaths?: HostPaths) {
  const compose = () => runner.get();
  return {
    ComposeUp: rt.unary('ComposeUp', async (req, ctx) => {
      const r = await compose().up(source(req, hostPaths), { services: req.services ?? [], forceRecreate: Boolean(req.forceRecreate), timeoutSeconds: req.timeoutSeconds || 300, sshAuthorizedKeys: checkSshKeys(req.sshAuthorizedKeys, 'ssh_authorized_keys'), wait: Boolean(req.wait) }, ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeDown: rt.unary('ComposeDown', async (req, ctx) => {
      const r = await compose().down(required(req.projectName, 'project_name'), { removeNetworks: Boolean(req.removeNetworks) }, ctx);
      return { project: r.project, services: r.services.map(svc), removedNetworks: r.removedNetworks };
    }),
    ComposePs: rt.unary('ComposePs', async (req, ctx) => {
      const r = await compose().ps(required(req.projectName, 'project_name'), ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeRestart: rt.unary('ComposeRestart', async (req, ctx) => {
      const r = await compose().restart(required(req.projectName, 'project_name'), { services: req.services ?? [] }, ctx);
      return { project: r.project, services: r.services.map(svc) };
    }),
    ComposeValidate: rt.unary('ComposeValidate', async (req, ctx) => {
      const r = await compose().validate(source(req, hostPaths), ctx);
      return { valid: r.valid, errors: r.errors.map(issueToWire), warnings: r.warnings.map(issueToWire), services: r.services, project: r.project };
    }),
  };
}
